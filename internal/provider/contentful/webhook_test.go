package contentful_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/store"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// The vector of PROVIDERS.md, reproduced with @contentful/node-apps-toolkit
// 3.16.1 (signRequest) and independently.
var (
	vectorSecret = strings.Repeat("a", 64)
	vectorPath   = "/webhooks/contentful"
	vectorBody   = `{"sys":{"id":"entry1","type":"Entry"}}`
	vectorTime   = time.UnixMilli(1700000000000)
)

const (
	vectorSignedHeaders = "content-type,x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic"
	vectorSignature     = "06eceb99479dbb025b5b3c35757c9fa9d60693810c489a1bd3e3f92cea627305"
)

func vectorHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Type", contentful.MediaType)
	h.Set("X-Contentful-Topic", "ContentManagement.Entry.publish")
	return h
}

func TestSignVector(t *testing.T) {
	t.Parallel()
	h := contentful.Sign(vectorSecret, http.MethodPost, vectorPath, vectorHeader(), []byte(vectorBody), vectorTime)
	require.Equal(t, "1700000000000", h.Get(contentful.HeaderTimestamp))
	require.Equal(t, vectorSignedHeaders, h.Get(contentful.HeaderSignedHeaders))
	require.Equal(t, vectorSignature, h.Get(contentful.HeaderSignature))
	require.Equal(t, contentful.MediaType, h.Get("Content-Type"), "the request's headers are kept")
}

func TestVerifyVector(t *testing.T) {
	t.Parallel()
	// The delivery exactly as the vector describes it, headers as received.
	h := vectorHeader()
	h.Set("X-Contentful-Timestamp", "1700000000000")
	h.Set("X-Contentful-Signed-Headers", vectorSignedHeaders)
	h.Set("X-Contentful-Signature", vectorSignature)
	h.Set("User-Agent", "Contentful-Webhooks") // not signed: ignored
	require.NoError(t, contentful.Verify([]string{vectorSecret}, "POST", vectorPath, h, []byte(vectorBody), vectorTime.Add(10*time.Second)))
	require.ErrorIs(t, contentful.Verify([]string{vectorSecret}, "POST", vectorPath, h, []byte(vectorBody), now), contentful.ErrStale,
		"the vector's timestamp is long past")
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"sys":{"id":"e1","type":"Entry"}}`)
	const path = "/v1/webhooks/contentful/acme"
	signed := func(secret string, at time.Time) http.Header {
		return contentful.Sign(secret, "POST", path, vectorHeader(), body, at)
	}
	good := signed(vectorSecret, now.Add(-time.Second))
	for _, c := range []struct {
		name    string
		secrets []string
		method  string
		path    string
		header  http.Header
		body    []byte
		want    error
	}{
		{"good", []string{vectorSecret}, "POST", path, good, body, nil},
		{"lower-case method", []string{vectorSecret}, "post", path, good, body, nil},
		{"rotation", []string{strings.Repeat("b", 64), vectorSecret}, "POST", path, good, body, nil},
		{"wrong secret", []string{strings.Repeat("b", 64)}, "POST", path, good, body, contentful.ErrBadSignature},
		{"no secrets", nil, "POST", path, good, body, contentful.ErrBadSignature},
		{"tampered body", []string{vectorSecret}, "POST", path, good, []byte(`{"sys":{"id":"e2","type":"Entry"}}`), contentful.ErrBadSignature},
		{"other path", []string{vectorSecret}, "POST", path + "/blog", good, body, contentful.ErrBadSignature},
		{"other method", []string{vectorSecret}, "PUT", path, good, body, contentful.ErrBadSignature},
		{"tampered signed header", []string{vectorSecret}, "POST", path, with(good, "X-Contentful-Topic", "ContentManagement.Entry.delete"), body, contentful.ErrBadSignature},
		{"signed header removed", []string{vectorSecret}, "POST", path, without(good, "X-Contentful-Topic"), body, contentful.ErrBadSignature},
		// The list is recomputed from the headers present, as verifyRequest
		// does: naming one more that was not sent changes nothing.
		{"list names a header not sent", []string{vectorSecret}, "POST", path,
			with(good, "X-Contentful-Signed-Headers", vectorSignedHeaders+",x-extra"), body, nil},
		{"list drops a signed header", []string{vectorSecret}, "POST", path,
			with(good, "X-Contentful-Signed-Headers", "x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic"), body, contentful.ErrBadSignature},
		{"unsigned header added", []string{vectorSecret}, "POST", path, with(good, "X-Extra", "1"), body, nil},
		{"stale", []string{vectorSecret}, "POST", path, signed(vectorSecret, now.Add(-6*time.Minute)), body, contentful.ErrStale},
		{"future", []string{vectorSecret}, "POST", path, signed(vectorSecret, now.Add(6*time.Minute)), body, contentful.ErrStale},
		{"missing signature", []string{vectorSecret}, "POST", path, without(good, "X-Contentful-Signature"), body, contentful.ErrMissingSignature},
		{"missing timestamp", []string{vectorSecret}, "POST", path, without(good, "X-Contentful-Timestamp"), body, contentful.ErrMalformed},
		{"timestamp in seconds is stale", []string{vectorSecret}, "POST", path, with(good, "X-Contentful-Timestamp", "1764072000"), body, contentful.ErrStale},
		{"missing list", []string{vectorSecret}, "POST", path, without(good, "X-Contentful-Signed-Headers"), body, contentful.ErrMalformed},
		{"signature not hex", []string{vectorSecret}, "POST", path, with(good, "X-Contentful-Signature", "zz"), body, contentful.ErrMalformed},
		{"base64 signature", []string{vectorSecret}, "POST", path, with(good, "X-Contentful-Signature", "BuzrmUeduwJbWzw1x8n6mdYGk4EMSJob0+P5LOpicwU="), body, contentful.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := contentful.Verify(c.secrets, c.method, c.path, c.header, c.body, now)
			if c.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.want)
			}
		})
	}
}

func with(h http.Header, k, v string) http.Header {
	h = h.Clone()
	h.Set(k, v)
	return h
}

func without(h http.Header, k string) http.Header {
	h = h.Clone()
	h.Del(k)
	return h
}

// TestPathNormalisation: the query is escaped twice, as the toolkit's
// getNormalizedEncodedURI does, and the same path signs and verifies.
func TestPathNormalisation(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	for _, p := range []string{"/hooks?x=1", "/hooks?x=1&y=a b", "/caf%C3%A9", "/hooks?a=1?b=2"} {
		h := contentful.Sign("s", "POST", p, vectorHeader(), body, now)
		require.NoError(t, contentful.Verify([]string{"s"}, "POST", p, h, body, now), p)
	}
	// "?x=1" and "?x%3D1" sign differently, and a second '?' part is not
	// signed (the toolkit splits the URI on '?' and keeps two parts).
	a := contentful.Sign("s", "POST", "/hooks?x=1", vectorHeader(), body, now)
	require.Error(t, contentful.Verify([]string{"s"}, "POST", "/hooks?x%3D1", a, body, now))
	b := contentful.Sign("s", "POST", "/hooks?a=1?b=2", vectorHeader(), body, now)
	require.NoError(t, contentful.Verify([]string{"s"}, "POST", "/hooks?a=1?c=3", b, body, now))

	u, err := url.Parse("http://x/v1/webhooks/contentful/acme?x=1")
	require.NoError(t, err)
	require.Equal(t, "/v1/webhooks/contentful/acme?x=1", contentful.RequestPath(u))
}

const entryPublish = `{"fields":{"title":{"en-US":"Hello"}},"sys":{"id":"5KsDBWseXY6QegucYAoacS","type":"Entry",` +
	`"contentType":{"sys":{"type":"Link","linkType":"ContentType","id":"post"}},"version":7,"publishedCounter":2,` +
	`"space":{"sys":{"type":"Link","linkType":"Space","id":"yadj1kx9rmg0"}},` +
	`"environment":{"sys":{"type":"Link","linkType":"Environment","id":"master"}},` +
	`"createdAt":"2026-11-20T11:29:46.809Z","updatedAt":"2026-11-25T11:29:46.809Z"}}`

// A tombstone as Contentful sends it on unpublish and delete.
const entryDeleted = `{"sys":{"type":"DeletedEntry","id":"5KsDBWseXY6QegucYAoacS",` +
	`"space":{"sys":{"type":"Link","linkType":"Space","id":"yadj1kx9rmg0"}},` +
	`"environment":{"sys":{"type":"Link","linkType":"Environment","id":"master"}},"revision":3,` +
	`"createdAt":"2026-11-25T11:40:00.000Z","updatedAt":"2026-11-25T11:40:00.000Z","deletedAt":"2026-11-25T11:40:00.000Z",` +
	`"contentType":{"sys":{"type":"Link","linkType":"ContentType","id":"post"}}}}`

func delivery(topic string) contentful.Delivery {
	return contentful.Delivery{Topic: topic, WebhookName: "site", IdempotencyKey: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", SentAt: now}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	updated := time.Date(2026, 11, 25, 11, 29, 46, 809000000, time.UTC)
	deleted := time.Date(2026, 11, 25, 11, 40, 0, 0, time.UTC)
	for _, c := range []struct {
		topic, body string
		wantType    string
		wantItem    *store.ContentItem
		wantTime    time.Time
		wantCType   string
	}{
		{"ContentManagement.Entry.publish", entryPublish, "content.updated",
			&store.ContentItem{UpdatedAt: updated, Version: 7}, updated, "post"},
		{"ContentManagement.Entry.publish", strings.Replace(entryPublish, `"publishedCounter":2`, `"publishedCounter":1`, 1), "content.created",
			&store.ContentItem{UpdatedAt: updated, Version: 7}, updated, "post"},
		{"ContentManagement.Entry.unpublish", entryDeleted, "content.deleted",
			&store.ContentItem{UpdatedAt: deleted, Deleted: true}, deleted, "post"},
		{"ContentManagement.Entry.delete", entryDeleted, "content.deleted",
			&store.ContentItem{UpdatedAt: deleted, Deleted: true}, deleted, "post"},
		{"ContentManagement.Entry.auto_save", entryPublish, "entry.auto_save", nil, updated, "post"},
		{"ContentManagement.Entry.create", entryPublish, "entry.create", nil, updated, "post"},
		{"ContentManagement.Asset.publish", strings.Replace(entryPublish, `"type":"Entry"`, `"type":"Asset"`, 1), "content.updated",
			&store.ContentItem{UpdatedAt: updated, Version: 7}, updated, "asset"},
		{"ContentManagement.ContentType.publish", entryPublish, "content_type.publish", nil, updated, ""},
		{"ContentManagement.Task.Create", entryPublish, "task.create", nil, updated, ""},
	} {
		t.Run(c.topic+"/"+c.wantType, func(t *testing.T) {
			d := delivery(c.topic)
			ev, item, err := contentful.Normalize(d.Header("s", "/", []byte(c.body)), []byte(c.body), "acme", "blog", now)
			require.NoError(t, err)
			ev.Timestamp = ev.Timestamp.UTC()
			require.Equal(t, store.Event{
				EventID: "contentful:acme:" + d.IdempotencyKey, ClientID: "acme", StackID: "blog", ProviderName: "contentful",
				EventType: c.wantType, ContentID: "5KsDBWseXY6QegucYAoacS", ContentType: c.wantCType,
				Timestamp: c.wantTime, Payload: []byte(c.body), ReceivedAt: now,
			}, ev)
			if c.wantItem == nil {
				require.Nil(t, item)
				return
			}
			want := *c.wantItem
			want.ProviderName, want.Source, want.ContentID, want.ContentType = "contentful", "yadj1kx9rmg0/master", "5KsDBWseXY6QegucYAoacS", c.wantCType
			got := *item
			got.UpdatedAt = got.UpdatedAt.UTC()
			require.Equal(t, want, got)
		})
	}
}

func TestNormalizeWithoutIdempotencyKey(t *testing.T) {
	t.Parallel()
	d := delivery("ContentManagement.Entry.publish")
	d.IdempotencyKey = ""
	h := d.Header("s", "/", []byte(entryPublish))
	first, _, err := contentful.Normalize(h, []byte(entryPublish), "acme", "", now)
	require.NoError(t, err)
	retry, _, err := contentful.Normalize(h, []byte(entryPublish), "acme", "", now.Add(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, first.EventID, retry.EventID, "a retry of the same payload has the same id")
	require.Equal(t, "contentful:acme:ContentManagement.Entry.publish:5KsDBWseXY6QegucYAoacS:7:1795606186809", first.EventID)
}

func TestNormalizeMalformed(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		topic, body string
	}{
		"no topic":           {"", entryPublish},
		"two-part topic":     {"Entry.publish", entryPublish},
		"odd topic":          {"ContentManagement.Entry.pub lish", entryPublish},
		"not json":           {"ContentManagement.Entry.publish", `{"sys":`},
		"not an object":      {"ContentManagement.Entry.publish", `[1]`},
		"sys not an object":  {"ContentManagement.Entry.publish", `{"sys":1}`},
		"publish without id": {"ContentManagement.Entry.publish", `{"sys":{"type":"Entry"}}`},
		"numeric id":         {"ContentManagement.Entry.publish", `{"sys":{"id":5}}`},
	} {
		t.Run(name, func(t *testing.T) {
			h := delivery(c.topic).Header("s", "/", []byte(c.body))
			_, _, err := contentful.Normalize(h, []byte(c.body), "acme", "", now)
			require.ErrorIs(t, err, contentful.ErrMalformed)
		})
	}
}

// FuzzContentfulWebhook feeds Verify arbitrary signature headers and paths
// and Normalize arbitrary topics and bodies: no panics, signed requests
// verify, accepted bodies are kept byte for byte.
func FuzzContentfulWebhook(f *testing.F) {
	f.Add(vectorSignature, vectorSignedHeaders, "/webhooks/contentful", "ContentManagement.Entry.publish", vectorBody)
	f.Add("", "", "/?x=1", "ContentManagement.Entry.delete", entryDeleted)
	f.Add("zz", "x-contentful-topic", "/caf\u00e9", "ContentManagement.Asset.publish", entryPublish)
	f.Add("00", ",,,", "", "a.b.c", `{"sys":{"id":"x"}}`)
	f.Fuzz(func(t *testing.T, sig, signedHeaders, path, topic, body string) {
		d := delivery(topic)
		h := d.Header("s", path, []byte(body))
		if err := contentful.Verify([]string{"s"}, "POST", path, h, []byte(body), now); err != nil {
			t.Fatalf("a signed request must verify: %v", err)
		}
		h.Set(contentful.HeaderSignature, sig)
		h.Set(contentful.HeaderSignedHeaders, signedHeaders)
		_ = contentful.Verify([]string{"s"}, "POST", path, h, []byte(body), now)
		ev, item, err := contentful.Normalize(h, []byte(body), "acme", "", now)
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
