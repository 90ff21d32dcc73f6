package generic_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider/generic"
	"github.com/blackwellio/blackwell/internal/store"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// The Standard Webhooks vector (PROVIDERS.md, reproduced with the
// reference library).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1674087231
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,AQG81rX2n4rTN1fkXoqILSHO9gAOcwya9dP41rhrQDI="
)

// otherSecret is another valid secret (24 bytes).
const otherSecret = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE="

func vectorHeader() http.Header {
	h := http.Header{}
	h.Set(generic.HeaderID, vectorID)
	h.Set(generic.HeaderTimestamp, "1674087231")
	h.Set(generic.HeaderSignature, vectorSignature)
	return h
}

func TestVector(t *testing.T) {
	t.Parallel()
	sent := time.Unix(vectorTimestamp, 0)
	sig, err := generic.Sign(vectorSecret, vectorID, sent, []byte(vectorBody))
	require.NoError(t, err)
	require.Equal(t, vectorSignature, sig)
	require.NoError(t, generic.Verify([]string{vectorSecret}, vectorHeader(), []byte(vectorBody), sent.Add(time.Minute)))
	require.ErrorIs(t, generic.Verify([]string{vectorSecret}, vectorHeader(), []byte(vectorBody), now), generic.ErrStale)

	// The prefix is optional, as in the reference libraries.
	require.NoError(t, generic.Verify([]string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, vectorHeader(), []byte(vectorBody), sent))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_type":"content.updated","content_id":"a"}`)
	h, err := generic.Header(vectorSecret, "msg_1", now.Add(-time.Second), body)
	require.NoError(t, err)
	other, err := generic.Sign(otherSecret, "msg_1", now.Add(-time.Second), body)
	require.NoError(t, err)
	stale, err := generic.Header(vectorSecret, "msg_1", now.Add(-6*time.Minute), body)
	require.NoError(t, err)
	future, err := generic.Header(vectorSecret, "msg_1", now.Add(6*time.Minute), body)
	require.NoError(t, err)
	for _, c := range []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		want    error
	}{
		{"good", []string{vectorSecret}, h, body, nil},
		{"rotation: secrets", []string{otherSecret, vectorSecret}, h, body, nil},
		{"rotation: the sender signs with both", []string{otherSecret}, with(h, generic.HeaderSignature, h.Get(generic.HeaderSignature)+" "+other), body, nil},
		{"unknown versions are skipped", []string{vectorSecret}, with(h, generic.HeaderSignature, "v1a,abc v2,xyz "+h.Get(generic.HeaderSignature)), body, nil},
		{"an invalid secret is skipped", []string{"whsec_!!!", vectorSecret}, h, body, nil},
		{"wrong secret", []string{otherSecret}, h, body, generic.ErrBadSignature},
		{"invalid secret only", []string{"not base64!"}, h, body, generic.ErrBadSignature},
		{"tampered body", []string{vectorSecret}, h, []byte(`{"event_type":"content.deleted","content_id":"a"}`), generic.ErrBadSignature},
		{"tampered id", []string{vectorSecret}, with(h, generic.HeaderID, "msg_2"), body, generic.ErrBadSignature},
		{"tampered timestamp", []string{vectorSecret}, with(h, generic.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)), body, generic.ErrBadSignature},
		{"stale", []string{vectorSecret}, stale, body, generic.ErrStale},
		{"future", []string{vectorSecret}, future, body, generic.ErrStale},
		{"missing signature", []string{vectorSecret}, with(h, generic.HeaderSignature, ""), body, generic.ErrMissingSignature},
		{"missing id", []string{vectorSecret}, with(h, generic.HeaderID, ""), body, generic.ErrMalformed},
		{"timestamp in ms", []string{vectorSecret}, with(h, generic.HeaderTimestamp, strconv.FormatInt(now.UnixMilli(), 10)), body, generic.ErrStale},
		{"timestamp not a number", []string{vectorSecret}, with(h, generic.HeaderTimestamp, "yesterday"), body, generic.ErrMalformed},
		{"no v1 signature", []string{vectorSecret}, with(h, generic.HeaderSignature, "v1a,abc"), body, generic.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := generic.Verify(c.secrets, c.header, c.body, now)
			if c.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.want)
			}
		})
	}
	_, err = generic.Sign("bad secret", "msg", now, body)
	require.ErrorIs(t, err, generic.ErrInvalidSecret)
}

func with(h http.Header, k, v string) http.Header {
	h = h.Clone()
	if v == "" {
		h.Del(k)
	} else {
		h.Set(k, v)
	}
	return h
}

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
			h, err := generic.Header(vectorSecret, "msg_42", now.Add(-time.Second), []byte(c.body))
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
			h, err := generic.Header(vectorSecret, "msg_1", now, []byte(body))
			require.NoError(t, err)
			_, _, err = generic.Normalize(h, []byte(body), "acme", "", now)
			require.ErrorIs(t, err, generic.ErrMalformed)
		})
	}
}

// FuzzGenericWebhook feeds Verify arbitrary signature lists and ids and
// Normalize arbitrary bodies: no panics, signed messages verify, accepted
// bodies are kept byte for byte.
func FuzzGenericWebhook(f *testing.F) {
	f.Add(vectorSignature, vectorID, vectorBody)
	f.Add("v1,AAAA v1a,x", "msg", `{"event_type":"content.updated","content_id":"a"}`)
	f.Add("", "", `{"event_type":"build.failed","timestamp":"2026-11-25T11:00:00Z"}`)
	f.Add("v1,", "m m", `{"event_type":"content.deleted","content_id":"\u00e9"}`)
	f.Fuzz(func(t *testing.T, sig, id, body string) {
		h, err := generic.Header(vectorSecret, id, now, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			if err := generic.Verify([]string{vectorSecret}, h, []byte(body), now); err != nil {
				t.Fatalf("a signed message must verify: %v", err)
			}
		}
		h.Set(generic.HeaderSignature, sig)
		_ = generic.Verify([]string{otherSecret, vectorSecret}, h, []byte(body), now)
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
