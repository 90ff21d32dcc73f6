package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// delivery is an ingested event about a content item of client acme at
// shopify, shop acme.myshopify.com, whose state is (updated, version,
// deleted).
func delivery(id, contentID string, updated time.Time, version int64, deleted bool) store.IngestEvent {
	typ := "content.updated"
	if deleted {
		typ = "content.deleted"
	}
	e := event(id, "acme", "", "shopify", typ, updated)
	e.ContentID = contentID
	return store.IngestEvent{Event: e, Content: &store.ContentItem{
		ProviderName: "shopify",
		Source:       "acme.myshopify.com",
		ContentID:    contentID,
		ContentType:  "product",
		UpdatedAt:    updated,
		Version:      version,
		Deleted:      deleted,
	}}
}

func ingest(ctx context.Context, t *testing.T, s store.Store, in ...store.IngestEvent) []bool {
	t.Helper()
	ins, err := s.IngestEvents(ctx, in)
	require.NoError(t, err)
	require.Len(t, ins, len(in))
	return ins
}

func allContent(ctx context.Context, t *testing.T, s store.Store, q store.ContentQuery) []store.ContentItem {
	t.Helper()
	return drain(t, "ListContent", q.Cursor, q.Limit, func(cursor string) ([]store.ContentItem, string, error) {
		q.Cursor = cursor
		return s.ListContent(ctx, q)
	})
}

// contentItem returns the stored state of one of acme's shopify items.
func contentItem(ctx context.Context, t *testing.T, s store.Store, contentID string) store.ContentItem {
	t.Helper()
	got := allContent(ctx, t, s, store.ContentQuery{ClientID: "acme", ProviderName: "shopify", ContentID: contentID, IncludeDeleted: true})
	require.Len(t, got, 1, "content %s", contentID)
	return got[0]
}

func testIngestEvents(ctx context.Context, t *testing.T, s store.Store) {
	a := delivery("a", "p1", at(0), 0, false)
	b := delivery("b", "p2", at(time.Second), 0, false)
	again := delivery("a", "p3", at(time.Hour), 0, false) // a redelivery with another item: ignored whole
	bare := store.IngestEvent{Event: event("c", "acme", "shop", "shopify", "order.created", at(0))}
	require.Equal(t, []bool{true, true, false, true}, ingest(ctx, t, s, a, b, again, bare))
	require.Equal(t, []bool{false}, ingest(ctx, t, s, b), "an id already stored is not written again")

	// Events read back as InsertEvents writes them.
	got := allEvents(ctx, t, s, store.EventQuery{ClientID: "acme"})
	require.ElementsMatch(t, []string{"a", "b", "c"}, eventIDs(got))
	for _, e := range got {
		if e.EventID == "a" {
			require.Equal(t, storedEvent(a.Event), e)
		}
	}

	items := allContent(ctx, t, s, store.ContentQuery{ClientID: "acme"})
	require.Equal(t, []store.ContentItem{
		{ClientID: "acme", ProviderName: "shopify", Source: "acme.myshopify.com", ContentID: "p1", ContentType: "product",
			UpdatedAt: store.Truncate(at(0)), EventID: "a", ReceivedAt: store.Truncate(a.Event.ReceivedAt)},
		{ClientID: "acme", ProviderName: "shopify", Source: "acme.myshopify.com", ContentID: "p2", ContentType: "product",
			UpdatedAt: store.Truncate(at(time.Second)), EventID: "b", ReceivedAt: store.Truncate(b.Event.ReceivedAt)},
	}, items, "the redelivery's item p3 is not applied; the client id comes from the event")

	// An event stored by InsertEvents is a duplicate for IngestEvents too.
	insert(ctx, t, s, event("d", "acme", "", "shopify", "content.updated", at(0)))
	require.Equal(t, []bool{false}, ingest(ctx, t, s, delivery("d", "p4", at(0), 0, false)))
	require.Len(t, allContent(ctx, t, s, store.ContentQuery{ClientID: "acme"}), 2)

	// A zero ReceivedAt is set to now, on the event and its item.
	fresh := delivery("e", "p5", at(0), 0, false)
	fresh.Event.ReceivedAt = time.Time{}
	ingest(ctx, t, s, fresh)
	item := contentItem(ctx, t, s, "p5")
	require.WithinDuration(t, time.Now(), item.ReceivedAt, time.Minute)
	require.Empty(t, ingest(ctx, t, s))
}

func testIngestEventsInvalid(ctx context.Context, t *testing.T, s store.Store) {
	good := delivery("good", "p1", at(0), 0, false)
	badPayload := delivery("bad", "p2", at(0), 0, false)
	badPayload.Event.Payload = json.RawMessage(`{"broken`)
	noID := delivery("", "p3", at(0), 0, false)
	noContentID := delivery("nocontent", "", at(0), 0, false)
	for name, bad := range map[string]store.IngestEvent{"payload": badPayload, "event id": noID, "content id": noContentID} {
		_, err := s.IngestEvents(ctx, []store.IngestEvent{good, bad})
		require.Error(t, err, name)
	}
	require.Empty(t, allEvents(ctx, t, s, store.EventQuery{}), "a rejected call writes nothing")
	require.Empty(t, allContent(ctx, t, s, store.ContentQuery{IncludeDeleted: true}))
}

// testContentNewestWins delivers states of one item in every order that
// matters and checks the cache keeps the newest.
func testContentNewestWins(ctx context.Context, t *testing.T, s store.Store) {
	type state struct {
		at      time.Duration
		version int64
		deleted bool
	}
	cases := []struct {
		name  string
		order []state
		want  state
	}{
		{"in order", []state{{0, 0, false}, {time.Second, 0, false}}, state{time.Second, 0, false}},
		{"older arrives late", []state{{time.Second, 0, false}, {0, 0, false}}, state{time.Second, 0, false}},
		{"higher version at the same time", []state{{0, 3, false}, {0, 2, false}, {0, 1, false}}, state{0, 3, false}},
		{"version breaks a tie, not a later time", []state{{time.Second, 1, false}, {0, 9, false}}, state{time.Second, 1, false}},
		{"delete then a late update", []state{{0, 0, false}, {2 * time.Second, 0, true}, {time.Second, 0, false}}, state{2 * time.Second, 0, true}},
		{"delete wins a tie", []state{{time.Second, 0, false}, {time.Second, 0, true}}, state{time.Second, 0, true}},
		{"a tie does not undelete", []state{{time.Second, 0, true}, {time.Second, 0, false}}, state{time.Second, 0, true}},
		{"recreated after a delete", []state{{0, 0, true}, {time.Second, 0, false}}, state{time.Second, 0, false}},
		{"sub-microsecond differences are a tie", []state{{time.Second, 0, false}, {time.Second + 100*time.Nanosecond, 0, false}}, state{time.Second, 0, false}},
	}
	for ci, c := range cases {
		contentID := fmt.Sprintf("item-%d", ci)
		var lastApplied string
		for i, st := range c.order {
			id := fmt.Sprintf("%s-%d", contentID, i)
			require.Equal(t, []bool{true}, ingest(ctx, t, s, delivery(id, contentID, at(st.at), st.version, st.deleted)), c.name)
			if st == c.want && lastApplied == "" {
				lastApplied = id
			}
		}
		got := contentItem(ctx, t, s, contentID)
		require.Equal(t, store.Truncate(at(c.want.at)), got.UpdatedAt, c.name)
		require.Equal(t, c.want.version, got.Version, c.name)
		require.Equal(t, c.want.deleted, got.Deleted, c.name)
		require.Equal(t, lastApplied, got.EventID, "%s: the event that brought the state", c.name)

		// Newer, the rule in Go, agrees with the store.
		var newest store.ContentItem
		for i, st := range c.order {
			cand := store.ContentItem{UpdatedAt: at(st.at), Version: st.version, Deleted: st.deleted}
			if i == 0 || cand.Newer(newest) {
				newest = cand
			}
		}
		require.Equal(t, store.Truncate(newest.UpdatedAt), got.UpdatedAt, "%s: Newer", c.name)
		require.Equal(t, newest.Deleted, got.Deleted, "%s: Newer", c.name)
	}

	// Several states of one item in one call apply in order.
	ingest(ctx, t, s,
		delivery("batch-1", "batched", at(time.Second), 0, false),
		delivery("batch-2", "batched", at(0), 0, false),
		delivery("batch-3", "batched", at(2*time.Second), 0, true),
	)
	got := contentItem(ctx, t, s, "batched")
	require.True(t, got.Deleted)
	require.Equal(t, "batch-3", got.EventID)

	// A tombstone that does not name the content type keeps the stored one.
	ingest(ctx, t, s, delivery("typed", "typed", at(0), 0, false))
	untyped := delivery("untyped", "typed", at(time.Second), 0, true)
	untyped.Content.ContentType = ""
	ingest(ctx, t, s, untyped)
	got = contentItem(ctx, t, s, "typed")
	require.True(t, got.Deleted)
	require.Equal(t, "product", got.ContentType)
}

func testListContent(ctx context.Context, t *testing.T, s store.Store) {
	var in []store.IngestEvent
	for i := range 30 {
		d := delivery(fmt.Sprintf("e%02d", i), fmt.Sprintf("c%02d", i), at(time.Duration(i)*time.Second), 0, i%5 == 0)
		d.Event.ClientID = []string{"acme", "globex"}[i%2]
		d.Content.ProviderName = []string{"shopify", "sanity", "contentful"}[i%3]
		d.Content.ContentType = []string{"product", "post"}[(i/2)%2]
		d.Content.Source = []string{"a", "b"}[(i/7)%2]
		in = append(in, d)
	}
	ingest(ctx, t, s, in[:13]...)
	ingest(ctx, t, s, in[13:]...)

	// The same content id at another client, provider or source is another
	// item: every delivery above made its own row.
	all := allContent(ctx, t, s, store.ContentQuery{IncludeDeleted: true})
	require.Len(t, all, 30)
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		require.Less(t, fmt.Sprint(a.ClientID, "\x00", a.ProviderName, "\x00", a.Source, "\x00", a.ContentID),
			fmt.Sprint(b.ClientID, "\x00", b.ProviderName, "\x00", b.Source, "\x00", b.ContentID), "key order")
	}

	want := func(keep func(store.IngestEvent) bool) []string {
		ids := []string{}
		for _, d := range in {
			if keep(d) {
				ids = append(ids, d.Content.ContentID)
			}
		}
		return ids
	}
	ids := func(items []store.ContentItem) []string {
		out := []string{}
		for _, c := range items {
			out = append(out, c.ContentID)
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    store.ContentQuery
		keep func(store.IngestEvent) bool
	}{
		{"live", store.ContentQuery{}, func(d store.IngestEvent) bool { return !d.Content.Deleted }},
		{"with tombstones", store.ContentQuery{IncludeDeleted: true}, func(store.IngestEvent) bool { return true }},
		{"client", store.ContentQuery{ClientID: "globex"}, func(d store.IngestEvent) bool {
			return d.Event.ClientID == "globex" && !d.Content.Deleted
		}},
		{"provider", store.ContentQuery{ProviderName: "sanity", IncludeDeleted: true}, func(d store.IngestEvent) bool {
			return d.Content.ProviderName == "sanity"
		}},
		{"type", store.ContentQuery{ContentType: "post"}, func(d store.IngestEvent) bool {
			return d.Content.ContentType == "post" && !d.Content.Deleted
		}},
		{"id", store.ContentQuery{ContentID: "c07"}, func(d store.IngestEvent) bool { return d.Content.ContentID == "c07" }},
		{"deleted id", store.ContentQuery{ContentID: "c05"}, func(store.IngestEvent) bool { return false }},
		{"everything", store.ContentQuery{ClientID: "acme", ProviderName: "shopify", ContentType: "product", IncludeDeleted: true},
			func(d store.IngestEvent) bool {
				return d.Event.ClientID == "acme" && d.Content.ProviderName == "shopify" && d.Content.ContentType == "product"
			}},
	} {
		for _, limit := range []int{0, 1, 4} {
			q := c.q
			q.Limit = limit
			require.ElementsMatch(t, want(c.keep), ids(allContent(ctx, t, s, q)), "%s, limit %d", c.name, limit)
		}
	}

	_, _, err := s.ListContent(ctx, store.ContentQuery{Cursor: "@@@"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

// testIngestEventsConcurrent ingests from many goroutines at once, states of
// a few items interleaved: every delivery is stored once and each item ends
// at its newest state.
func testIngestEventsConcurrent(ctx context.Context, t *testing.T, s store.Store) {
	const workers, per, items = 8, 40, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				n := w*per + i
				d := delivery(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("item-%d", n%items), at(time.Duration(n)*time.Millisecond), 0, false)
				ins, err := s.IngestEvents(ctx, []store.IngestEvent{d, d})
				if err != nil {
					errs <- err
					return
				}
				if !ins[0] || ins[1] {
					errs <- fmt.Errorf("delivery %s: inserted %v", d.Event.EventID, ins)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, allEvents(ctx, t, s, store.EventQuery{ClientID: "acme"}), workers*per)
	for i := range items {
		newest := workers*per - items + i // the last n with n%items == i
		got := contentItem(ctx, t, s, fmt.Sprintf("item-%d", i))
		require.Equal(t, store.Truncate(at(time.Duration(newest)*time.Millisecond)), got.UpdatedAt, "item-%d", i)
	}
}
