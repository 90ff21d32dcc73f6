package webhook_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
)

func TestCheckTimestamp(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	require.NoError(t, webhook.CheckTimestamp(now.Add(-webhook.Tolerance), now))
	require.NoError(t, webhook.CheckTimestamp(now.Add(webhook.Tolerance), now))
	require.ErrorIs(t, webhook.CheckTimestamp(now.Add(-webhook.Tolerance-time.Second), now), webhook.ErrStale)
	require.ErrorIs(t, webhook.CheckTimestamp(now.Add(webhook.Tolerance+time.Second), now), webhook.ErrStale)
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	require.NoError(t, webhook.CheckID("id", "gid://shopify/Product/1"))
	require.NoError(t, webhook.CheckID("id", "caf\u00e9 page"))
	for _, bad := range []string{"", "a\nb", "a\x00", string([]byte{0xff}), string(make([]byte, webhook.MaxIDLength+1))} {
		require.ErrorIs(t, webhook.CheckID("id", bad), webhook.ErrMalformed, "%q", bad)
	}
}

func TestTopLevel(t *testing.T) {
	t.Parallel()
	body := []byte(` { "a" : 1, "nested": {"id": 9, "s": "}\"]"}, "list": [1, {"id": 8}, "x,y"], "id" : 42 ,` +
		`"updated_at":"2025-04-22T14:30:00-05:00", "t":true, "n": null, "esc\u0061ped": "v", "id": 43 }`)
	raw, ok := webhook.TopLevel(body, "id", "updated_at", "escaped", "missing", "n", "t", "list")
	require.True(t, ok)
	require.Equal(t, "43", string(raw[0]), "the last occurrence wins, nested ones do not count")
	require.Equal(t, `"2025-04-22T14:30:00-05:00"`, string(raw[1]))
	require.Equal(t, `"v"`, string(raw[2]))
	require.Nil(t, raw[3])
	require.Equal(t, "null", string(raw[4]))
	require.Equal(t, "true", string(raw[5]))
	require.Equal(t, `[1, {"id": 8}, "x,y"]`, string(raw[6]))

	for _, bad := range []string{``, `[]`, `"x"`, `{"a":1`, `{"a":1}}`, `null`, `{"a" 1}`} {
		_, ok := webhook.TopLevel([]byte(bad), "a")
		require.False(t, ok, bad)
	}
	raw, ok = webhook.TopLevel([]byte(`{}`), "a")
	require.True(t, ok)
	require.Nil(t, raw[0])
}

// FuzzTopLevelJSON: TopLevel agrees with encoding/json on every valid
// object.
func FuzzTopLevelJSON(f *testing.F) {
	f.Add(`{"id":1,"x":{"id":2}}`)
	f.Add(`{"i\u0064":"a","id":"b"}`)
	f.Add(`{"id":[1,"]"],"y":"\\"}`)
	f.Add(`[1]`)
	f.Fuzz(func(t *testing.T, body string) {
		raw, ok := webhook.TopLevel([]byte(body), "id", "y")
		var m map[string]json.RawMessage
		err := json.Unmarshal([]byte(body), &m)
		if !ok {
			if err == nil && m != nil {
				t.Fatalf("TopLevel refused an object encoding/json reads: %q", body)
			}
			return
		}
		if err != nil {
			t.Fatalf("TopLevel accepted what encoding/json refuses: %q: %v", body, err)
		}
		for i, k := range []string{"id", "y"} {
			want, has := m[k]
			if !has {
				if raw[i] != nil {
					t.Fatalf("%q: key %s found but absent", body, k)
				}
				continue
			}
			if string(raw[i]) != string(want) {
				t.Fatalf("%q: key %s = %s, encoding/json says %s", body, k, raw[i], want)
			}
		}
	})
}
