package shopify_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/store"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// The documented vector (PROVIDERS.md, reproduced with shopify-app-js's
// test helper): secret "hush", body {"id":1}.
const (
	vectorSecret = "hush"
	vectorBody   = `{"id":1}`
	vectorHmac   = "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY="
)

func header(sig string) http.Header {
	h := http.Header{}
	h.Set(shopify.HeaderHmac, sig)
	return h
}

func TestSignVector(t *testing.T) {
	t.Parallel()
	require.Equal(t, vectorHmac, shopify.Sign(vectorSecret, []byte(vectorBody)))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(vectorBody)
	for _, c := range []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		want    error
	}{
		{"docs vector", []string{vectorSecret}, header(vectorHmac), body, nil},
		{"rotation: the new secret", []string{"old", vectorSecret}, header(vectorHmac), body, nil},
		{"rotation: the old secret", []string{vectorSecret, "new"}, header(vectorHmac), body, nil},
		{"unset secrets are skipped", []string{"", vectorSecret}, header(vectorHmac), body, nil},
		{"wrong secret", []string{"hush!"}, header(vectorHmac), body, shopify.ErrBadSignature},
		{"no secret", nil, header(vectorHmac), body, shopify.ErrBadSignature},
		{"empty secret only", []string{""}, header(shopify.Sign("", body)), body, shopify.ErrBadSignature},
		{"tampered body", []string{vectorSecret}, header(vectorHmac), []byte(`{"id":2}`), shopify.ErrBadSignature},
		{"re-encoded body", []string{vectorSecret}, header(vectorHmac), []byte(`{"id": 1}`), shopify.ErrBadSignature},
		{"missing", []string{vectorSecret}, http.Header{}, body, shopify.ErrMissingSignature},
		{"not base64", []string{vectorSecret}, header("%%%"), body, shopify.ErrMalformed},
		{"wrong length", []string{vectorSecret}, header("AAAA"), body, shopify.ErrMalformed},
		{"hex instead of base64", []string{vectorSecret}, header("5672948d9b0bb8de626559e7e449ed701542"), body, shopify.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := shopify.Verify(c.secrets, c.header, c.body, now)
			if c.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.want)
			}
		})
	}
}

func delivery(topic string) shopify.Delivery {
	return shopify.Delivery{
		Topic: topic, ShopDomain: "Acme.myshopify.com", APIVersion: "2025-07",
		WebhookID: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", EventID: "8f1c7b0c-3f0d-4b54-8d56-2e2d8b4f1a11",
		TriggeredAt: now.Add(-2 * time.Second),
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	// The products/update example of shopify.dev's delivery-structure page.
	update := `{"id":9554194432293,"title":"T-Shirt","status":"active","updated_at":"2025-04-22T14:30:00-05:00","variants":[{"id":123456789,"price":"29.99"}]}`
	updated := time.Date(2025, 4, 22, 19, 30, 0, 0, time.UTC)
	triggered := now.Add(-2 * time.Second)
	for _, c := range []struct {
		topic, body string
		wantType    string
		wantContent *store.ContentItem
		wantID      string
		wantTime    time.Time
	}{
		{"products/update", update, "content.updated",
			&store.ContentItem{ContentType: "product", UpdatedAt: updated}, "gid://shopify/Product/9554194432293", updated},
		{"products/create", update, "content.created",
			&store.ContentItem{ContentType: "product", UpdatedAt: updated}, "gid://shopify/Product/9554194432293", updated},
		{"products/delete", `{"id":9554194432293}`, "content.deleted",
			&store.ContentItem{ContentType: "product", UpdatedAt: triggered, Deleted: true}, "gid://shopify/Product/9554194432293", triggered},
		{"collections/update", `{"id":841564295,"handle":"ipods","updated_at":"2025-04-22T14:30:00-05:00"}`, "content.updated",
			&store.ContentItem{ContentType: "collection", UpdatedAt: updated}, "gid://shopify/Collection/841564295", updated},
		{"collections/delete", `{"id":841564295}`, "collection.deleted",
			&store.ContentItem{ContentType: "collection", UpdatedAt: triggered, Deleted: true}, "gid://shopify/Collection/841564295", triggered},
		{"orders/create", `{"id":820982911946154508,"updated_at":"2025-04-22T14:30:00-05:00"}`, "order.created", nil, "820982911946154508", updated},
		{"orders/paid", `{"id":820982911946154508}`, "order.paid", nil, "820982911946154508", triggered},
		{"app/uninstalled", `{"id":548380009,"name":"Super Toys"}`, "app.uninstalled", nil, "548380009", triggered},
		{"inventory_levels/update", `{"inventory_item_id":271878346596884015}`, "inventory_level.updated", nil, "", triggered},
	} {
		t.Run(c.topic, func(t *testing.T) {
			d := delivery(c.topic)
			h := d.Header("s", []byte(c.body))
			ev, item, err := shopify.Normalize(h, []byte(c.body), "acme", "shop", now)
			require.NoError(t, err)
			require.Equal(t, store.Event{
				EventID: "shopify:acme:" + d.EventID, ClientID: "acme", StackID: "shop", ProviderName: "shopify",
				EventType: c.wantType, ContentID: c.wantID, ContentType: contentType(c.wantContent),
				Timestamp: c.wantTime, Payload: []byte(c.body), ReceivedAt: now,
			}, normalizeTimes(ev))
			if c.wantContent == nil {
				require.Nil(t, item)
				return
			}
			want := *c.wantContent
			want.ProviderName, want.Source, want.ContentID = "shopify", "acme.myshopify.com", c.wantID
			got := *item
			got.UpdatedAt = got.UpdatedAt.UTC()
			require.Equal(t, want, got)
		})
	}
}

func contentType(c *store.ContentItem) string {
	if c == nil {
		return ""
	}
	return c.ContentType
}

func normalizeTimes(e store.Event) store.Event {
	e.Timestamp = e.Timestamp.UTC()
	return e
}

func TestNormalizeIDsAndTimes(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":1,"updated_at":"2025-04-22T14:30:00Z"}`)

	d := delivery("products/update")
	d.EventID = ""
	ev, _, err := shopify.Normalize(d.Header("s", body), body, "acme", "", now)
	require.NoError(t, err)
	require.Equal(t, "shopify:acme:"+d.WebhookID, ev.EventID, "X-Shopify-Webhook-Id without an event id")
	require.Empty(t, ev.StackID)

	future := []byte(`{"id":1,"updated_at":"2027-01-01T00:00:00Z"}`)
	ev, item, err := shopify.Normalize(delivery("products/update").Header("s", future), future, "acme", "", now)
	require.NoError(t, err)
	require.Equal(t, now, ev.Timestamp, "a time in the future is not trusted")
	require.Equal(t, now, item.UpdatedAt)

	d = delivery("products/delete")
	d.TriggeredAt = time.Time{}
	del := []byte(`{"id":1}`)
	ev, _, err = shopify.Normalize(d.Header("s", del), del, "acme", "", now)
	require.NoError(t, err)
	require.Equal(t, now, ev.Timestamp, "without updated_at or triggered-at: now")
}

func TestNormalizeMalformed(t *testing.T) {
	t.Parallel()
	ok := []byte(`{"id":1}`)
	for name, c := range map[string]struct {
		mutate func(http.Header)
		body   string
	}{
		"no topic":           {func(h http.Header) { h.Del(shopify.HeaderTopic) }, `{"id":1}`},
		"topic without verb": {func(h http.Header) { h.Set(shopify.HeaderTopic, "products") }, `{"id":1}`},
		"odd topic":          {func(h http.Header) { h.Set(shopify.HeaderTopic, "Products/Update") }, `{"id":1}`},
		"no shop":            {func(h http.Header) { h.Del(shopify.HeaderShopDomain) }, `{"id":1}`},
		"no ids":             {func(h http.Header) { h.Del(shopify.HeaderEventID); h.Del(shopify.HeaderWebhookID) }, `{"id":1}`},
		"control in id":      {func(h http.Header) { h.Set(shopify.HeaderEventID, "a\x01b") }, `{"id":1}`},
		"not json":           {nil, `{"id":1`},
		"trailing data":      {nil, `{"id":1}}`},
		"array":              {nil, `[{"id":1}]`},
		"null":               {nil, `null`},
		"string id":          {nil, `{"id":"abc"}`},
		"no product id":      {nil, `{"title":"x","updated_at":"2025-04-22T14:30:00Z"}`},
		"negative id":        {nil, `{"id":-4,"updated_at":"2025-04-22T14:30:00Z"}`},
		"fraction id":        {nil, `{"id":1.5,"updated_at":"2025-04-22T14:30:00Z"}`},
	} {
		t.Run(name, func(t *testing.T) {
			h := delivery("products/update").Header("s", ok)
			if c.mutate != nil {
				c.mutate(h)
			}
			_, _, err := shopify.Normalize(h, []byte(c.body), "acme", "", now)
			require.ErrorIs(t, err, shopify.ErrMalformed)
		})
	}
}

func TestStale(t *testing.T) {
	t.Parallel()
	d := delivery("products/update")
	require.False(t, shopify.Stale(d.Header("s", nil), now))
	d.TriggeredAt = now.Add(-2 * time.Hour) // a retry of a 2-hour-old event
	require.True(t, shopify.Stale(d.Header("s", nil), now))
	d.TriggeredAt = time.Time{}
	require.False(t, shopify.Stale(d.Header("s", nil), now), "no triggered-at: not known to be stale")

	h := http.Header{}
	h.Set(shopify.HeaderTriggeredAt, "2025-07-10T16:15:47.000000Z") // the docs' format
	at, ok := shopify.TriggeredAt(h)
	require.True(t, ok)
	require.Equal(t, time.Date(2025, 7, 10, 16, 15, 47, 0, time.UTC), at)
}

// FuzzShopifyWebhook feeds Verify and Normalize arbitrary signatures,
// topics and bodies: neither may panic, a body Normalize accepts is kept
// byte for byte, and a body signed with the secret verifies.
func FuzzShopifyWebhook(f *testing.F) {
	f.Add(vectorHmac, "products/update", vectorBody)
	f.Add("", "collections/delete", `{"id":841564295}`)
	f.Add("AAAA", "orders/create", `{"id":1,"updated_at":"2025-04-22T14:30:00-05:00"}`)
	f.Add(vectorHmac, "app/uninstalled", `{"id":"12"}`)
	f.Add("x", "products/", `[]`)
	// A products/create body replayed as a delete, a delete's body replayed
	// as an update, and the delete bodies Shopify sends.
	f.Add(vectorHmac, "products/delete", `{"id":9554194432293,"title":"T-Shirt","updated_at":"2025-04-22T14:30:00-05:00"}`)
	f.Add(vectorHmac, "orders/delete", `{"id":1,"created_at":"2025-04-22T14:30:00-05:00"}`)
	f.Add(vectorHmac, "products/update", `{"id":9554194432293}`)
	f.Add(vectorHmac, "collections/delete", `{"id":841564295,"published_scope":"web","admin_graphql_api_id":"gid://shopify/Collection/841564295"}`)
	f.Fuzz(func(t *testing.T, sig, topic, body string) {
		h := delivery("products/update").Header(vectorSecret, []byte(body))
		if err := shopify.Verify([]string{vectorSecret}, h, []byte(body), now); err != nil {
			t.Fatalf("a body signed with the secret must verify: %v", err)
		}
		h.Set(shopify.HeaderHmac, sig)
		_ = shopify.Verify([]string{"other", vectorSecret}, h, []byte(body), now)
		h.Set(shopify.HeaderTopic, topic)
		ev, item, err := shopify.Normalize(h, []byte(body), "acme", "", now)
		if err != nil {
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		if string(ev.Payload) != body || ev.EventID == "" || ev.EventType == "" {
			t.Fatalf("accepted delivery normalised badly: %+v", ev)
		}
		if item != nil && (item.ContentID != ev.ContentID || item.ContentID == "") {
			t.Fatalf("content item %+v does not match event %+v", item, ev)
		}
		if item != nil && item.Deleted {
			var v map[string]json.RawMessage
			if json.Unmarshal([]byte(body), &v) == nil && (v["updated_at"] != nil || v["created_at"] != nil) {
				t.Fatalf("a delete accepted with a resource's state: %q", body)
			}
		}
	})
}

// TestTopicShape: Shopify signs the body only, so a captured delivery sent
// again under another topic must not pass for it: a create or update body
// under a delete topic, or a delete's bare id under a content create or
// update, is refused (ErrMismatch); the delete bodies Shopify sends pass.
func TestTopicShape(t *testing.T) {
	t.Parallel()
	product := `{"id":9554194432293,"title":"T-Shirt","status":"active","updated_at":"2025-04-22T14:30:00-05:00","variants":[{"id":123456789,"price":"29.99"}]}`
	order := `{"id":820982911946154508,"created_at":"2025-04-22T14:30:00-05:00","financial_status":"paid"}`
	for _, c := range []struct {
		topic, body string
		refused     bool
	}{
		{"products/delete", product, true},
		{"collections/delete", `{"id":841564295,"handle":"ipods","updated_at":"2025-04-22T14:30:00-05:00"}`, true},
		{"orders/delete", order, true},
		{"products/update", `{"id":9554194432293}`, true},
		{"products/create", `{"id":9554194432293}`, true},
		{"collections/update", `{"id":841564295}`, true},

		{"products/delete", `{"id":9554194432293}`, false},
		{"collections/delete", `{"id":841564295,"published_scope":"web","admin_graphql_api_id":"gid://shopify/Collection/841564295"}`, false},
		{"orders/delete", `{"id":820982911946154508}`, false},
		{"products/create", product, false},
		{"orders/paid", `{"id":820982911946154508}`, false},
		{"customers/delete", `{"id":706405506930370084,"phone":null,"addresses":[],"admin_graphql_api_id":"gid://shopify/Customer/706405506930370084"}`, false},
		{"inventory_levels/delete", `{"inventory_item_id":271878346596884015,"location_id":24826418}`, false},
	} {
		t.Run(c.topic+" "+c.body[:12], func(t *testing.T) {
			_, _, err := shopify.Normalize(delivery(c.topic).Header("s", []byte(c.body)), []byte(c.body), "acme", "", now)
			if c.refused {
				require.ErrorIs(t, err, webhook.ErrMismatch)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestCheckShop(t *testing.T) {
	t.Parallel()
	acme := map[string]string{"shop": "acme.myshopify.com"}
	short := map[string]string{"shop": "Acme"}
	globex := map[string]string{"shop": "globex.myshopify.com"}
	proxied := map[string]string{"api_base": "http://127.0.0.1:9"}
	for _, c := range []struct {
		name     string
		domain   string
		settings []map[string]string
		refused  bool
	}{
		{"the binding's shop", "acme.myshopify.com", []map[string]string{acme}, false},
		{"case and the short form", "ACME.myshopify.com", []map[string]string{short}, false},
		{"one of several bindings", "globex.myshopify.com", []map[string]string{acme, globex}, false},
		{"another shop", "evil.myshopify.com", []map[string]string{acme}, true},
		{"a suffix is not the shop", "xacme.myshopify.com", []map[string]string{acme}, true},
		{"no domain", "", []map[string]string{acme}, true},
		{"a binding without a shop cannot be checked", "evil.myshopify.com", []map[string]string{acme, proxied}, false},
		{"no binding settings", "evil.myshopify.com", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(shopify.HeaderShopDomain, c.domain)
			err := shopify.CheckShop(h, c.settings)
			if c.refused {
				require.ErrorIs(t, err, webhook.ErrMismatch)
				return
			}
			require.NoError(t, err)
		})
	}
}
