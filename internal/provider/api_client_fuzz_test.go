package provider

import (
	"net/http"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/redact"
)

// FuzzRetryAfterHeader: any Retry-After is read as a wait that is not
// negative, or not at all.
func FuzzRetryAfterHeader(f *testing.F) {
	for _, s := range []string{"2", "2.0", "0.5", "Wed, 21 Oct 2015 07:28:00 GMT", "", "-1", "NaN", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := RetryAfterHeader(&Response{Header: http.Header{"Retry-After": {v}}})
		if ok && d < 0 {
			t.Fatalf("negative wait %s for %q", d, v)
		}
		_ = redact.Text(v)
		_ = Truncate(v, 7)
	})
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"2": 2 * time.Second, "2.0": 2 * time.Second, "0.5": 500 * time.Millisecond} {
		got, ok := RetryAfterHeader(&Response{Header: http.Header{"Retry-After": {v}}})
		if !ok || got != want {
			t.Fatalf("Retry-After %q: got %s %v, want %s", v, got, ok, want)
		}
	}
	if _, ok := RetryAfterHeader(&Response{Header: http.Header{}}); ok {
		t.Fatal("no header read as a wait")
	}
}

func TestSanitizeTextStripsQueriesAndUserinfo(t *testing.T) {
	t.Parallel()
	got := redact.Text(`Get "https://user:pw@api.example/x?token=secret#f": dial tcp`)
	if got != `Get "https://api.example/x": dial tcp` {
		t.Fatalf("got %q", got)
	}
}
