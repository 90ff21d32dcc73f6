package redact

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"no url here", "no url here"},
		{"https://example.test/hook", "https://example.test/hook"},
		{"https://user:pa55@example.test/hook?token=s3cret#frag", "https://example.test/hook"},
		{`Get "https://api.example.test/build_hooks/abc?token=s3cret": EOF`, `Get "https://api.example.test/build_hooks/abc": EOF`},
		{"a http://x.test/?a=1 and https://y.test/p?b=2 end", "a http://x.test/ and https://y.test/p end"},
		{"odd ://thing?x=1", "odd ://thing?x=1"},
		{"bad http://[::1/?token=s3cret", "bad <invalid url>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Text(tt.in))
		})
	}
}
