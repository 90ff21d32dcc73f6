package erase_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/erase"
	"github.com/blackwellio/blackwell/internal/seal"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

func ev(id, client, provider, typ, contentID, payload string, i int) store.IngestEvent {
	e := store.Event{EventID: id, ClientID: client, ProviderName: provider, EventType: typ, ContentID: contentID,
		Timestamp: t0.Add(time.Duration(i) * time.Minute), TTLTimestamp: t0.Add(time.Hour).Unix()}
	if payload != "" {
		e.Payload = json.RawMessage(payload)
	}
	return store.IngestEvent{Event: e}
}

// setup is a sealed SQLite store with acme's events, content and
// notifications, and globex's.
func setup(t *testing.T) (store.Store, *erase.Eraser) {
	t.Helper()
	ctx := context.Background()
	raw, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	line, err := seal.NewKeyLine("k1")
	require.NoError(t, err)
	kr, err := seal.ParseKeyFile("keys", []byte(line))
	require.NoError(t, err)
	st, err := seal.Open(ctx, raw, seal.Options{Keyring: kr})
	require.NoError(t, err)

	product := ev("shopify:acme:p1", "acme", "shopify", "content.updated", "gid://shopify/Product/5", `{"id":5,"title":"Tee"}`, 5)
	product.Content = &store.ContentItem{ProviderName: "shopify", Source: "acme.myshopify.com", ContentID: "gid://shopify/Product/5",
		ContentType: "product", UpdatedAt: t0}
	other := ev("shopify:acme:p2", "acme", "shopify", "content.updated", "gid://shopify/Product/6", `{"id":6}`, 6)
	other.Content = &store.ContentItem{ProviderName: "shopify", Source: "other.myshopify.com", ContentID: "gid://shopify/Product/6",
		ContentType: "product", UpdatedAt: t0}
	post := ev("sanity:acme:d1", "acme", "sanity", "content.updated", "post-1", `{"_id":"post-1"}`, 7)
	post.Content = &store.ContentItem{ProviderName: "sanity", Source: "p/prod", ContentID: "post-1", ContentType: "post", UpdatedAt: t0}
	_, err = st.IngestEvents(ctx, []store.IngestEvent{
		ev("shopify:acme:o1", "acme", "shopify", "order.created", "1001", `{"id":1001,"email":"Ann@Example.com","customer":{"id":77}}`, 1),
		ev("shopify:acme:o2", "acme", "shopify", "order.created", "1002", `{"id":1002,"customer":{"id":77}}`, 2),
		ev("shopify:acme:o3", "acme", "shopify", "order.created", "1003", `{"id":1003,"email":"bob@example.com","customer":{"id":88}}`, 3),
		ev("shopify:acme:c1", "acme", "shopify", "customer.updated", "77", "", 4), // no payload: found by id
		product, other, post,
		ev("shopify:acme:r1", "acme", "shopify", "customer.redact", "", `{"customer":{"id":77},"orders_to_redact":[1001]}`, 8),
		ev("shopify:globex:o1", "globex", "shopify", "order.created", "1001", `{"id":1001,"email":"ann@example.com","customer":{"id":77}}`, 9),
	})
	require.NoError(t, err)
	require.NoError(t, st.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 1, Deliveries: []store.OutboxItem{
		{ID: "ch/1", Channel: "ch", Payload: json.RawMessage(`{"client_id":"acme","observed":"ann@example.com"}`)},
		{ID: "ch/2", Channel: "ch", Payload: json.RawMessage(`{"client_id":"acme","observed":"acme.myshopify.com down"}`)},
		{ID: "ch/3", Channel: "ch", Payload: json.RawMessage(`{"client_id":"globex","observed":"ann@example.com"}`)},
	}}))
	return st, &erase.Eraser{Store: st, Now: func() time.Time { return t0 }, Batch: 2}
}

func eventIDs(t *testing.T, st store.Store) []string {
	t.Helper()
	evs, _, err := st.ListEvents(context.Background(), store.EventQuery{Limit: 100})
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	sort.Strings(out)
	return out
}

func outboxIDs(t *testing.T, st store.Store) []string {
	t.Helper()
	items, err := st.PendingOutbox(context.Background(), store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 100})
	require.NoError(t, err)
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func contentIDs(t *testing.T, st store.Store) []string {
	t.Helper()
	items, _, err := st.ListContent(context.Background(), store.ContentQuery{IncludeDeleted: true, Limit: 100})
	require.NoError(t, err)
	var out []string
	for _, it := range items {
		out = append(out, it.ClientID+"/"+it.ContentID)
	}
	return out
}

// TestEraseSubject: a subject's erasure removes the client's events that
// name the subject (by email or customer id, sealed payloads included, and
// by content id without a payload), and the notifications that name it;
// the privacy request's own event, other customers and other clients stay.
// Find reports the same and deletes nothing; the audit entries hold
// counts and a digest, never the subject.
func TestEraseSubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, er := setup(t)
	req := erase.Request{ClientID: "acme", Subject: erase.Subject{Values: []string{"ann@example.com"}, IDs: []string{"77"}},
		By: "cli:test", Reason: "cli"}

	found, err := er.Find(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 3, found.Events)
	require.Equal(t, map[string]int{"order.created": 2, "customer.updated": 1}, found.EventTypes)
	require.Equal(t, 1, found.Outbox)
	require.Len(t, eventIDs(t, st), 9, "find deletes nothing")

	erased, err := er.Erase(ctx, req)
	require.NoError(t, err)
	require.Equal(t, found.SHA256, erased.SHA256, "the digest covers what was found")
	require.Equal(t, []string{"sanity:acme:d1", "shopify:acme:o3", "shopify:acme:p1", "shopify:acme:p2", "shopify:acme:r1", "shopify:globex:o1"},
		eventIDs(t, st))
	require.Equal(t, []string{"ch/2", "ch/3"}, outboxIDs(t, st))
	require.Len(t, contentIDs(t, st), 3, "no content names the customer")

	again, err := er.Erase(ctx, req)
	require.NoError(t, err)
	require.Zero(t, again.Events+again.Content+again.Outbox, "nothing left to erase")

	entries, _, err := st.ListAudit(ctx, store.AuditQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 3)
	require.Equal(t, erase.ActionDataRequest, entries[0].Action)
	require.Equal(t, erase.ActionErased, entries[1].Action)
	require.Equal(t, "cli:test", entries[1].TriggeredBy)
	var changes map[string]any
	require.NoError(t, json.Unmarshal(entries[1].ChangesMade, &changes))
	require.Equal(t, erased.SHA256, changes["sha256"])
	require.EqualValues(t, 3, changes["events"])
	for _, e := range entries {
		require.NotContains(t, string(e.ChangesMade), "xample.com")
		require.NotContains(t, string(e.ChangesMade), `"77"`)
	}
}

// TestEraseShopAndClient: shop/redact removes the client's Shopify events
// and the shop's content (and notifications naming the shop); everything
// of a client removes all of its events, content and notifications, and
// nothing of another client's.
func TestEraseShopAndClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, er := setup(t)
	rep, err := er.Erase(ctx, erase.Request{ClientID: "acme", Shop: "acme.myshopify.com", By: "shopify", Reason: "shop/redact"})
	require.NoError(t, err)
	require.Equal(t, 6, rep.Events, "every Shopify event of acme but the privacy request")
	require.Equal(t, 1, rep.Content)
	require.Equal(t, 1, rep.Outbox)
	require.Equal(t, []string{"sanity:acme:d1", "shopify:acme:r1", "shopify:globex:o1"}, eventIDs(t, st))
	require.ElementsMatch(t, []string{"acme/gid://shopify/Product/6", "acme/post-1"}, contentIDs(t, st))
	require.Equal(t, []string{"ch/1", "ch/3"}, outboxIDs(t, st))

	_, err = er.Erase(ctx, erase.Request{ClientID: "acme"})
	require.Error(t, err, "no subject, shop or everything: refused")
	rep, err = er.Erase(ctx, erase.Request{ClientID: "acme", Everything: true, By: "cli:test"})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Events)
	require.Equal(t, []string{"shopify:acme:r1", "shopify:globex:o1"}, eventIDs(t, st))
	require.Empty(t, contentIDs(t, st))
	require.Equal(t, []string{"ch/3"}, outboxIDs(t, st))
}
