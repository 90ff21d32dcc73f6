package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// testDataKeys: data keys are stored, listed oldest first, and replaced by
// id (a re-wrap).
func testDataKeys(ctx context.Context, t *testing.T, s store.Store) {
	keys, err := s.DataKeys(ctx)
	require.NoError(t, err)
	require.Empty(t, keys)
	k1 := store.DataKey{ID: "dk1", KEKID: "kek-a", Wrapped: "d3JhcHBlZDE=", CreatedAt: at(time.Hour)}
	k0 := store.DataKey{ID: "dk0", KEKID: "kek-a", Wrapped: "d3JhcHBlZDA=", CreatedAt: at(0)}
	require.NoError(t, s.PutDataKeys(ctx, []store.DataKey{k1, k0}))
	require.NoError(t, s.PutDataKeys(ctx, nil))
	keys, err = s.DataKeys(ctx)
	require.NoError(t, err)
	k0.CreatedAt, k1.CreatedAt = store.Truncate(k0.CreatedAt).UTC(), store.Truncate(k1.CreatedAt).UTC()
	require.Equal(t, []store.DataKey{k0, k1}, keys, "oldest first")

	rewrapped := k0
	rewrapped.KEKID, rewrapped.Wrapped = "kek-b", "b3RoZXI="
	rewrapped.CreatedAt = at(2 * time.Hour) // the creation time is kept
	require.NoError(t, s.PutDataKeys(ctx, []store.DataKey{rewrapped}))
	keys, err = s.DataKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Equal(t, "dk0", keys[0].ID)
	require.Equal(t, "kek-b", keys[0].KEKID)
	require.Equal(t, "b3RoZXI=", keys[0].Wrapped)
	require.Equal(t, k0.CreatedAt, keys[0].CreatedAt)
}

// testPayloadRows: payloads are scanned as stored in key order (filtered
// by client and provider, rows without a payload left out), swapped only
// while they hold the old value, and rows are deleted by key: events with
// their activity, outbox items, and content-cache rows by client, provider,
// source and ids.
func testPayloadRows(ctx context.Context, t *testing.T, s store.Store) {
	e1 := event("shopify:acme:1", "acme", "shop", "shopify", "order.created", at(time.Minute))
	e2 := event("shopify:acme:2", "acme", "shop", "shopify", "order.created", at(2*time.Minute))
	e3 := event("sanity:acme:3", "acme", "shop", "sanity", "content.updated", at(3*time.Minute))
	e4 := event("shopify:globex:4", "globex", "site", "shopify", "order.created", at(4*time.Minute))
	e5 := event("shopify:acme:5", "acme", "shop", "shopify", "order.created", at(5*time.Minute))
	e5.Payload = nil
	e2.Payload = json.RawMessage(`"sealed-looking string"`)
	insert(ctx, t, s, e1, e2, e3, e4, e5)

	checkScanEventPayloads(ctx, t, s)
	checkSwapEventPayloads(ctx, t, s, e2)
	checkDeleteEventRows(ctx, t, s)
	checkOutboxPayloadRows(ctx, t, s)
	checkDeleteContent(ctx, t, s)
}

// scanPayloads answers ScanPayloads(q) as key=payload.
func scanPayloads(ctx context.Context, t *testing.T, s store.Store, q store.PayloadScan) []string {
	t.Helper()
	rows, err := s.ScanPayloads(ctx, q)
	require.NoError(t, err)
	var out []string
	for _, r := range rows {
		out = append(out, r.Key+"="+string(r.Payload))
	}
	return out
}

// checkScanEventPayloads: events' payloads in key order, filtered, bounded.
func checkScanEventPayloads(ctx context.Context, t *testing.T, s store.Store) {
	require.Equal(t, []string{`sanity:acme:3={"id":"sanity:acme:3"}`, `shopify:acme:1={"id":"shopify:acme:1"}`,
		`shopify:acme:2="sealed-looking string"`, `shopify:globex:4={"id":"shopify:globex:4"}`},
		scanPayloads(ctx, t, s, store.PayloadScan{Table: store.PayloadEvents}), "every payload in key order, none without one")
	require.Equal(t, []string{`shopify:acme:2="sealed-looking string"`},
		scanPayloads(ctx, t, s, store.PayloadScan{Table: store.PayloadEvents, ClientID: "acme", ProviderName: "shopify", After: "shopify:acme:1"}))
	require.Equal(t, []string{`sanity:acme:3={"id":"sanity:acme:3"}`},
		scanPayloads(ctx, t, s, store.PayloadScan{Table: store.PayloadEvents, Limit: 1}))
	rows, err := s.ScanPayloads(ctx, store.PayloadScan{Table: store.PayloadEvents, ClientID: "acme", ProviderName: "sanity"})
	require.NoError(t, err)
	require.Equal(t, []store.PayloadRow{{Key: "sanity:acme:3", ClientID: "acme", ProviderName: "sanity",
		ContentID: "content-sanity:acme:3", EventType: "content.updated", Payload: json.RawMessage(`{"id":"sanity:acme:3"}`)}}, rows)
	_, err = s.ScanPayloads(ctx, store.PayloadScan{Table: "states"})
	require.Error(t, err)
}

// checkSwapEventPayloads: only rows that still hold Old are swapped, and a
// payload must stay JSON.
func checkSwapEventPayloads(ctx context.Context, t *testing.T, s store.Store, e2 store.Event) {
	n, err := s.SwapPayloads(ctx, store.PayloadEvents, []store.PayloadSwap{
		{Key: "shopify:acme:1", Old: json.RawMessage(`{"id":"shopify:acme:1"}`), New: json.RawMessage(`"v2"`)},
		{Key: "shopify:acme:2", Old: json.RawMessage(`"something else"`), New: json.RawMessage(`"v2"`)},
		{Key: "shopify:acme:404", Old: json.RawMessage(`{}`), New: json.RawMessage(`"v2"`)},
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = s.SwapPayloads(ctx, store.PayloadEvents, []store.PayloadSwap{{Key: "shopify:acme:2", Old: e2.Payload, New: json.RawMessage(`{broken`)}})
	require.Error(t, err, "a payload must stay JSON")
	got, _, err := s.ListEvents(ctx, store.EventQuery{ClientID: "acme", Limit: 10})
	require.NoError(t, err)
	payloads := map[string]string{}
	for _, e := range got {
		payloads[e.EventID] = string(e.Payload)
	}
	require.Equal(t, `"v2"`, payloads["shopify:acme:1"])
	require.Equal(t, `"sealed-looking string"`, payloads["shopify:acme:2"])
}

// checkDeleteEventRows: events are deleted by key, their activity with them.
func checkDeleteEventRows(ctx context.Context, t *testing.T, s store.Store) {
	before, err := s.EventActivity(ctx, "acme", "shop", at(0))
	require.NoError(t, err)
	require.Equal(t, 3, activityCount(before, "shopify"))
	n, err := s.DeleteRows(ctx, store.PayloadEvents, []string{"shopify:acme:1", "shopify:acme:5", "nope"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	after, err := s.EventActivity(ctx, "acme", "shop", at(0))
	require.NoError(t, err)
	require.Equal(t, 1, activityCount(after, "shopify"))
	got, _, err := s.ListEvents(ctx, store.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"shopify:acme:2", "sanity:acme:3", "shopify:globex:4"}, eventIDs(got))
	n, err = s.DeleteRows(ctx, store.PayloadEvents, nil)
	require.NoError(t, err)
	require.Zero(t, n)
}

// checkOutboxPayloadRows: outbox items are scanned, swapped and deleted.
func checkOutboxPayloadRows(ctx context.Context, t *testing.T, s store.Store) {
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 1, Deliveries: []store.OutboxItem{
		{ID: "ch/b", Channel: "ch", Payload: json.RawMessage(`{"k":"b"}`)},
		{ID: "ch/a", Channel: "ch", Payload: json.RawMessage(`{"k":"a"}`)},
	}}))
	require.Equal(t, []string{`ch/a={"k":"a"}`, `ch/b={"k":"b"}`}, scanPayloads(ctx, t, s, store.PayloadScan{Table: store.PayloadOutbox}))
	n, err := s.SwapPayloads(ctx, store.PayloadOutbox, []store.PayloadSwap{{Key: "ch/a", Old: json.RawMessage(`{"k":"a"}`), New: json.RawMessage(`"x"`)}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	pending, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, `"x"`, string(pending[1].Payload))
	n, err = s.DeleteRows(ctx, store.PayloadOutbox, []string{"ch/b"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{`ch/a="x"`}, scanPayloads(ctx, t, s, store.PayloadScan{Table: store.PayloadOutbox}))
}

// checkDeleteContent: content-cache rows are deleted by client, provider,
// source and ids; a provider is required.
func checkDeleteContent(ctx context.Context, t *testing.T, s store.Store) {
	item := func(client, source, id string) store.IngestEvent {
		e := event("c:"+client+":"+source+":"+id, client, "", "shopify", "content.updated", at(time.Minute))
		return store.IngestEvent{Event: e, Content: &store.ContentItem{ProviderName: "shopify", Source: source,
			ContentID: id, ContentType: "product", UpdatedAt: at(time.Minute)}}
	}
	ingest(ctx, t, s, item("acme", "a.myshopify.com", "p1"), item("acme", "a.myshopify.com", "p2"),
		item("acme", "b.myshopify.com", "p1"), item("globex", "a.myshopify.com", "p1"))
	n, err := s.DeleteContent(ctx, store.ContentErase{ClientID: "acme", ProviderName: "shopify", Source: "a.myshopify.com", ContentIDs: []string{"p2", "p9"}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = s.DeleteContent(ctx, store.ContentErase{ClientID: "acme", ProviderName: "shopify", Source: "b.myshopify.com"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	left := allContent(ctx, t, s, store.ContentQuery{IncludeDeleted: true})
	require.Len(t, left, 2)
	n, err = s.DeleteContent(ctx, store.ContentErase{ClientID: "acme", ProviderName: "shopify"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	left = allContent(ctx, t, s, store.ContentQuery{IncludeDeleted: true})
	require.Len(t, left, 1)
	require.Equal(t, "globex", left[0].ClientID)
	_, err = s.DeleteContent(ctx, store.ContentErase{ClientID: "acme"})
	require.Error(t, err, "a provider is required")
}

func activityCount(r store.ActivityReport, provider string) int {
	n := 0
	for _, a := range r.Activity {
		if a.ProviderName == provider {
			n += a.Count
		}
	}
	return n
}
