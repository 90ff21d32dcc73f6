package sanity_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/store"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// The vectors of sanity-io/webhook-toolkit's tests (PROVIDERS.md,
// reproduced with @sanity/webhook 4.0.4).
var vectors = []struct {
	secret, body string
	ms           int64
	header       string
}{
	{"test", `{"_id":"resume"}`, 1633519811129, "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0"},
	{"try-me", `{"title":"GROQ-Hooks are neat"}`, 1633518820676, "t=1633518820676,v1=e7C9h2sfbFfc4V7TEz7PSOp4IoNzl0UdVsBV-1wgdeA"},
}

func sigHeader(v string) http.Header {
	h := http.Header{}
	h.Set(sanity.HeaderSignature, v)
	return h
}

func TestVectors(t *testing.T) {
	t.Parallel()
	for _, v := range vectors {
		sent := time.UnixMilli(v.ms)
		require.Equal(t, v.header, sanity.Sign(v.secret, []byte(v.body), sent))
		require.NoError(t, sanity.Verify([]string{v.secret}, sigHeader(v.header), []byte(v.body), sent.Add(time.Second)))
		// Today the same delivery is a replay.
		require.ErrorIs(t, sanity.Verify([]string{v.secret}, sigHeader(v.header), []byte(v.body), now), sanity.ErrStale)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"_id":"post-1","_type":"post"}`)
	sent := now.Add(-10 * time.Second)
	good := sanity.Sign("s3cret", body, sent)
	for _, c := range []struct {
		name    string
		secrets []string
		header  string
		body    []byte
		want    error
	}{
		{"good", []string{"s3cret"}, good, body, nil},
		{"rotation: old secret still listed", []string{"s3cret", "next"}, good, body, nil},
		{"rotation: new secret", []string{"old", "s3cret"}, good, body, nil},
		{"wrong secret", []string{"other"}, good, body, sanity.ErrBadSignature},
		{"no secrets", nil, good, body, sanity.ErrBadSignature},
		{"tampered body", []string{"s3cret"}, good, []byte(`{"_id":"post-2","_type":"post"}`), sanity.ErrBadSignature},
		{"missing", []string{"s3cret"}, "", body, sanity.ErrMissingSignature},
		{"stale", []string{"s3cret"}, sanity.Sign("s3cret", body, now.Add(-6*time.Minute)), body, sanity.ErrStale},
		{"from the future", []string{"s3cret"}, sanity.Sign("s3cret", body, now.Add(6*time.Minute)), body, sanity.ErrStale},
		{"just within tolerance", []string{"s3cret"}, sanity.Sign("s3cret", body, now.Add(-4*time.Minute)), body, nil},
		{"seconds, not ms", []string{"s3cret"}, "t=1764072000,v1=abc", body, sanity.ErrMalformed},
		{"no v1", []string{"s3cret"}, "t=1764072000000", body, sanity.ErrMalformed},
		{"garbage", []string{"s3cret"}, "v1=abc,t=1", body, sanity.ErrMalformed},
		{"two signatures", []string{"s3cret"}, good + ",v1=xyz", body, sanity.ErrMalformed},
		{"space separator is not what Sanity sends", []string{"s3cret"}, spaced(good), body, sanity.ErrBadSignature},
		{"padded base64", []string{"s3cret"}, good + "=", body, sanity.ErrBadSignature},
		{"signature for another timestamp", []string{"s3cret"}, retimed(good, sent.Add(time.Millisecond)), body, sanity.ErrBadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := sanity.Verify(c.secrets, sigHeader(c.header), c.body, now)
			if c.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.want)
			}
		})
	}
}

func spaced(h string) string {
	for i := range h {
		if h[i] == ',' {
			return h[:i] + ", " + h[i+1:]
		}
	}
	return h
}

// retimed keeps the signature and replaces the timestamp.
func retimed(h string, t time.Time) string {
	for i := range h {
		if h[i] == ',' {
			return "t=" + strconv.FormatInt(t.UnixMilli(), 10) + h[i:]
		}
	}
	return h
}

func delivery(op string) sanity.Delivery {
	return sanity.Delivery{
		Operation: op, DocumentID: "post-1", ProjectID: "abc123", Dataset: "production",
		TransactionID: "tx-9", TransactionTime: now.Add(-time.Second), WebhookID: "hook-1",
		IdempotencyKey: "idem-" + op, SentAt: now,
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	body := `{"_id":"post-1","_type":"post","_rev":"r1","_updatedAt":"2026-11-25T11:00:00Z","title":"Hello"}`
	for _, c := range []struct {
		op, wantType string
	}{
		{"create", "content.created"},
		{"update", "content.updated"},
		{"delete", "content.deleted"},
	} {
		t.Run(c.op, func(t *testing.T) {
			d := delivery(c.op)
			ev, item, err := sanity.Normalize(d.Header("s", []byte(body)), []byte(body), "acme", "blog", now)
			require.NoError(t, err)
			require.Equal(t, store.Event{
				EventID: "sanity:acme:idem-" + c.op, ClientID: "acme", StackID: "blog", ProviderName: "sanity",
				EventType: c.wantType, ContentID: "post-1", ContentType: "post",
				Timestamp: d.TransactionTime, Payload: []byte(body), ReceivedAt: now,
			}, utc(ev))
			require.Equal(t, store.ContentItem{
				ProviderName: "sanity", Source: "abc123/production", ContentID: "post-1", ContentType: "post",
				UpdatedAt: d.TransactionTime, Deleted: c.op == "delete",
			}, utcItem(*item))
		})
	}
}

func utc(e store.Event) store.Event {
	e.Timestamp = e.Timestamp.UTC()
	return e
}

func utcItem(c store.ContentItem) store.ContentItem {
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c
}

func TestNormalizeFallbacks(t *testing.T) {
	t.Parallel()
	// A projection without _id or _type, no operation, no idempotency key,
	// no transaction time: the headers and the body's _updatedAt fill in.
	body := []byte(`{"title":"x","_updatedAt":"2026-11-25T11:00:00Z"}`)
	d := delivery("")
	d.IdempotencyKey = ""
	d.TransactionTime = time.Time{}
	ev, item, err := sanity.Normalize(d.Header("s", body), body, "acme", "", now)
	require.NoError(t, err)
	require.Equal(t, "sanity:acme:tx-9:post-1", ev.EventID)
	require.Equal(t, "content.updated", ev.EventType)
	require.Equal(t, "post-1", ev.ContentID)
	require.Empty(t, ev.ContentType)
	require.Equal(t, time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC), ev.Timestamp.UTC())
	require.NotNil(t, item)

	// A projection that is not an object is kept as it is.
	arr := []byte(`["a",1]`)
	ev, _, err = sanity.Normalize(delivery("update").Header("s", arr), arr, "acme", "", now)
	require.NoError(t, err)
	require.Equal(t, "post-1", ev.ContentID)
	require.Equal(t, now, ev.Timestamp.UTC().Add(time.Second), "transaction time")

	// Drafts are not site content.
	draft := []byte(`{"_id":"drafts.post-1","_type":"post"}`)
	ev, item, err = sanity.Normalize(delivery("update").Header("s", draft), draft, "acme", "", now)
	require.NoError(t, err)
	require.Equal(t, "draft.updated", ev.EventType)
	require.Nil(t, item)

	// A transaction time in the future is not trusted.
	d = delivery("update")
	d.TransactionTime = now.Add(time.Hour)
	ev, _, err = sanity.Normalize(d.Header("s", draft), draft, "acme", "", now)
	require.NoError(t, err)
	require.Equal(t, now, ev.Timestamp)
}

func TestNormalizeMalformed(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		mutate func(http.Header)
		body   string
	}{
		"not json":          {nil, `{"_id":`},
		"numeric _id":       {nil, `{"_id":5}`},
		"no document id":    {func(h http.Header) { h.Del(sanity.HeaderDocumentID) }, `{"title":"x"}`},
		"no delivery id":    {func(h http.Header) { h.Del(sanity.HeaderIdempotencyKey); h.Del(sanity.HeaderTransactionID) }, `{"_id":"a"}`},
		"unknown operation": {func(h http.Header) { h.Set(sanity.HeaderOperation, "publish") }, `{"_id":"a"}`},
		"control in type":   {nil, `{"_id":"a","_type":"p\u0000"}`},
	} {
		t.Run(name, func(t *testing.T) {
			h := delivery("update").Header("s", []byte(c.body))
			if c.mutate != nil {
				c.mutate(h)
			}
			_, _, err := sanity.Normalize(h, []byte(c.body), "acme", "", now)
			require.ErrorIs(t, err, sanity.ErrMalformed)
		})
	}
}

// FuzzSanityWebhook feeds Verify arbitrary signature headers and
// Normalize arbitrary operations and bodies: no panics, signed bodies
// verify, accepted bodies are kept byte for byte.
func FuzzSanityWebhook(f *testing.F) {
	for _, v := range vectors {
		f.Add(v.header, "update", v.body)
	}
	f.Add("t=1,v1=", "create", `{"_id":"drafts.x"}`)
	f.Add("t=1764072000000, v1=a", "delete", `null`)
	f.Add("", "", `{"_id":"a","_type":"b","_updatedAt":"2026-11-25T11:00:00Z"}`)
	f.Fuzz(func(t *testing.T, sig, op, body string) {
		h := delivery(op).Header("s", []byte(body))
		if err := sanity.Verify([]string{"s"}, h, []byte(body), now); err != nil {
			t.Fatalf("a body signed with the secret must verify: %v", err)
		}
		h.Set(sanity.HeaderSignature, sig)
		_ = sanity.Verify([]string{"s", "t"}, h, []byte(body), now)
		ev, item, err := sanity.Normalize(h, []byte(body), "acme", "", now)
		if err != nil {
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		if string(ev.Payload) != body || ev.EventID == "" || ev.ContentID == "" {
			t.Fatalf("accepted delivery normalised badly: %+v", ev)
		}
		if item != nil && item.ContentID != ev.ContentID {
			t.Fatalf("content item %+v does not match event %+v", item, ev)
		}
	})
}
