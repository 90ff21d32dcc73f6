package generic_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider/generic"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
	"github.com/blackwellio/blackwell/internal/store"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// vectorSecret is the secret of the Standard Webhooks vector (PROVIDERS.md
// §7; the scheme's own tests are package stdwebhook's).
const vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body string
		want       store.Event
		item       *store.ContentItem
	}{
		{"content.updated", `{"event_id":"e1","client_id":"acme","provider_name":"legacy-cms","event_type":"content.updated",` +
			`"content_id":"page-7","content_type":"page","timestamp":"2026-11-25T11:59:00Z","metadata":{"author":"ann","tags":["a"]}}`,
			store.Event{EventType: "content.updated", ContentID: "page-7", ContentType: "page", Timestamp: now.Add(-time.Minute)},
			&store.ContentItem{ContentID: "page-7", ContentType: "page", UpdatedAt: now.Add(-time.Minute)}},
		{"content.deleted", `{"event_type":"content.deleted","content_id":"page-7"}`,
			store.Event{EventType: "content.deleted", ContentID: "page-7", Timestamp: now.Add(-time.Second)},
			&store.ContentItem{ContentID: "page-7", UpdatedAt: now.Add(-time.Second), Deleted: true}},
		{"build.succeeded", `{"event_type":"build.succeeded","timestamp":"2026-11-25T11:59:00+01:00"}`,
			store.Event{EventType: "build.succeeded", Timestamp: now.Add(-time.Hour - time.Minute)}, nil},
		{"future time", `{"event_type":"content.created","content_id":"x","timestamp":"2030-01-01T00:00:00Z"}`,
			store.Event{EventType: "content.created", ContentID: "x", Timestamp: now},
			&store.ContentItem{ContentID: "x", UpdatedAt: now}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := stdwebhook.Header(vectorSecret, "msg_42", now.Add(-time.Second), []byte(c.body))
			require.NoError(t, err)
			ev, item, err := generic.Normalize(h, []byte(c.body), "acme", "legacy", now)
			require.NoError(t, err)
			want := c.want
			want.EventID, want.ClientID, want.StackID, want.ProviderName = "generic:acme:msg_42", "acme", "legacy", "generic"
			want.Payload, want.ReceivedAt = []byte(c.body), now
			ev.Timestamp = ev.Timestamp.UTC()
			require.Equal(t, want, ev)
			if c.item == nil {
				require.Nil(t, item)
				return
			}
			wantItem := *c.item
			wantItem.ProviderName = "generic"
			got := *item
			got.UpdatedAt = got.UpdatedAt.UTC()
			require.Equal(t, wantItem, got)
		})
	}
}

func TestNormalizeMalformed(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not json":              `{"event_type":`,
		"array":                 `[]`,
		"no event type":         `{"content_id":"a"}`,
		"event type one word":   `{"event_type":"updated","content_id":"a"}`,
		"event type upper case": `{"event_type":"Content.Updated","content_id":"a"}`,
		"unknown content event": `{"event_type":"content.published","content_id":"a"}`,
		"content without id":    `{"event_type":"content.updated"}`,
		"other client":          `{"event_type":"content.updated","content_id":"a","client_id":"globex"}`,
		"bad timestamp":         `{"event_type":"content.updated","content_id":"a","timestamp":"yesterday"}`,
		"numeric content id":    `{"event_type":"content.updated","content_id":5}`,
		"control in type":       `{"event_type":"content.updated","content_id":"a","content_type":"p\n"}`,
	} {
		t.Run(name, func(t *testing.T) {
			h, err := stdwebhook.Header(vectorSecret, "msg_1", now, []byte(body))
			require.NoError(t, err)
			_, _, err = generic.Normalize(h, []byte(body), "acme", "", now)
			require.ErrorIs(t, err, webhook.ErrMalformed)
		})
	}
}

// FuzzGenericWebhook feeds Normalize arbitrary ids and bodies under a
// signed header: no panics, accepted bodies are kept byte for byte.
// (Verify's own fuzz target is stdwebhook's FuzzVerify.)
func FuzzGenericWebhook(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", `{"test": 2432232314}`)
	f.Add("msg", `{"event_type":"content.updated","content_id":"a"}`)
	f.Add("", `{"event_type":"build.failed","timestamp":"2026-11-25T11:00:00Z"}`)
	f.Add("m m", `{"event_type":"content.deleted","content_id":"\u00e9"}`)
	f.Fuzz(func(t *testing.T, id, body string) {
		h, err := stdwebhook.Header(vectorSecret, id, now, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		ev, item, err := generic.Normalize(h, []byte(body), "acme", "", now)
		if err != nil {
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		if string(ev.Payload) != body || ev.EventID == "" || ev.EventType == "" {
			t.Fatalf("accepted delivery normalised badly: %+v", ev)
		}
		if item != nil && (item.ContentID == "" || item.ContentID != ev.ContentID) {
			t.Fatalf("content item %+v does not match event %+v", item, ev)
		}
	})
}
