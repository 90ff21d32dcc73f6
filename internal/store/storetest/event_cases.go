package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

func event(id, client, stack, provider, typ string, ts time.Time) store.Event {
	return store.Event{
		EventID:      id,
		ClientID:     client,
		StackID:      stack,
		ProviderName: provider,
		EventType:    typ,
		ContentID:    "content-" + id,
		ContentType:  "product",
		Timestamp:    ts,
		Environment:  "prod",
		Payload:      json.RawMessage(fmt.Sprintf(`{"id":%q}`, id)),
		ReceivedAt:   ts.Add(time.Second),
		TTLTimestamp: ts.Add(30 * 24 * time.Hour).Unix(),
	}
}

func insert(ctx context.Context, t *testing.T, s store.Store, in ...store.Event) []bool {
	t.Helper()
	ins, err := s.InsertEvents(ctx, in)
	require.NoError(t, err)
	require.Len(t, ins, len(in))
	return ins
}

func eventIDs(es []store.Event) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.EventID
	}
	return ids
}

func storedEvent(e store.Event) store.Event {
	e.Timestamp = store.Truncate(e.Timestamp)
	e.ReceivedAt = store.Truncate(e.ReceivedAt)
	return e
}

func testInsertEventsDedupe(ctx context.Context, t *testing.T, s store.Store) {
	a := event("a", "acme", "shop", "shopify", "products/update", at(0))
	b := event("b", "acme", "shop", "shopify", "products/update", at(time.Second))
	c := event("c", "acme", "", "sanity", "document.publish", at(2*time.Second))
	again := a
	again.ContentID = "other"

	require.Equal(t, []bool{true, true, false}, insert(ctx, t, s, a, b, again), "duplicates within a batch count once")
	require.Equal(t, []bool{false, true}, insert(ctx, t, s, b, c), "an id already stored is not written again")
	require.Empty(t, insert(ctx, t, s))

	got := allEvents(ctx, t, s, store.EventQuery{ClientID: "acme"})
	require.Equal(t, []string{"c", "b", "a"}, eventIDs(got))
	require.Equal(t, storedEvent(a), got[2], "the first write of an id is kept")
}

func testEventsRoundTrip(ctx context.Context, t *testing.T, s store.Store) {
	full := store.Event{
		EventID:      "evt-1",
		ClientID:     "acme",
		StackID:      "shop",
		ProviderName: "shopify",
		EventType:    "products/update",
		ContentID:    "gid://shopify/Product/1",
		ContentType:  "product",
		Timestamp:    at(0),
		Environment:  "prod",
		Payload:      json.RawMessage(`{"b": 1,  "a": [1, 2.50], "s": "\u00e9"}`),
		ReceivedAt:   at(3 * time.Second),
		TTLTimestamp: at(720 * time.Hour).Unix(),
	}
	bare := store.Event{EventID: "evt-2", ClientID: "acme", Timestamp: at(-time.Hour)}
	insert(ctx, t, s, full, bare)

	got := allEvents(ctx, t, s, store.EventQuery{ClientID: "acme"})
	require.Len(t, got, 2)
	require.Equal(t, storedEvent(full), got[0])
	require.Equal(t, string(full.Payload), string(got[0].Payload), "payload bytes are kept")

	require.Equal(t, "evt-2", got[1].EventID)
	require.Empty(t, got[1].Payload)
	require.False(t, got[1].DriftChecked)
	require.Equal(t, store.Truncate(bare.Timestamp), got[1].Timestamp)
	require.WithinDuration(t, time.Now(), got[1].ReceivedAt, time.Minute, "a zero ReceivedAt is set to now")
	require.Equal(t, store.Truncate(got[1].ReceivedAt), got[1].ReceivedAt)
}

func testListEventsFilters(ctx context.Context, t *testing.T, s store.Store) {
	var all []store.Event
	providers := []string{"shopify", "sanity", "contentful"}
	types := []string{"products/update", "document.publish"}
	for i := range 24 {
		client := []string{"acme", "globex"}[i%2]
		all = append(all, event(fmt.Sprintf("e%02d", i), client, "s", providers[i%3], types[(i/3)%2], at(time.Duration(i)*time.Minute)))
	}
	insert(ctx, t, s, all[:10]...)
	insert(ctx, t, s, all[10:]...)

	want := func(keep func(store.Event) bool) []string {
		ids := []string{}
		for i := len(all) - 1; i >= 0; i-- { // newest first
			if keep(all[i]) {
				ids = append(ids, all[i].EventID)
			}
		}
		return ids
	}
	since, until := at(5*time.Minute), at(17*time.Minute)
	for _, c := range []struct {
		name string
		q    store.EventQuery
		keep func(store.Event) bool
	}{
		{"all", store.EventQuery{}, func(store.Event) bool { return true }},
		{"client", store.EventQuery{ClientID: "globex"}, func(e store.Event) bool { return e.ClientID == "globex" }},
		{"provider", store.EventQuery{ProviderName: "sanity"}, func(e store.Event) bool { return e.ProviderName == "sanity" }},
		{"type", store.EventQuery{EventType: "document.publish"}, func(e store.Event) bool { return e.EventType == "document.publish" }},
		{"since inclusive", store.EventQuery{Since: since}, func(e store.Event) bool { return !e.Timestamp.Before(since) }},
		{"until exclusive", store.EventQuery{Until: until}, func(e store.Event) bool { return e.Timestamp.Before(until) }},
		{"everything", store.EventQuery{ClientID: "acme", ProviderName: "shopify", EventType: "products/update", Since: since, Until: until},
			func(e store.Event) bool {
				return e.ClientID == "acme" && e.ProviderName == "shopify" && e.EventType == "products/update" &&
					!e.Timestamp.Before(since) && e.Timestamp.Before(until)
			}},
		{"none", store.EventQuery{ClientID: "initech"}, func(store.Event) bool { return false }},
	} {
		for _, limit := range []int{0, 3} {
			q := c.q
			q.Limit = limit
			require.Equal(t, want(c.keep), eventIDs(allEvents(ctx, t, s, q)), "%s, limit %d", c.name, limit)
		}
	}

	_, _, err := s.ListEvents(ctx, store.EventQuery{Cursor: "@@@"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

func testListEventsPagination(ctx context.Context, t *testing.T, s store.Store) {
	// 23 events in groups sharing a timestamp, inserted across batches and
	// out of time order.
	var all []store.Event
	for i := range 23 {
		all = append(all, event(fmt.Sprintf("p%02d", i), "acme", "shop", "shopify", "t", at(time.Duration(7-i%5)*time.Minute)))
	}
	insert(ctx, t, s, all[:9]...)
	insert(ctx, t, s, all[9:]...)

	for _, limit := range []int{1, 2, 4, 5, 22, 23, 24} {
		got := allEvents(ctx, t, s, store.EventQuery{ClientID: "acme", Limit: limit})
		require.Len(t, got, 23, "limit %d", limit)
		seen := map[string]bool{}
		for i, e := range got {
			require.False(t, seen[e.EventID], "limit %d: %s listed twice", limit, e.EventID)
			seen[e.EventID] = true
			if i > 0 {
				require.False(t, e.Timestamp.After(got[i-1].Timestamp), "limit %d: newest first", limit)
			}
		}
	}

	// Events arriving while a client pages through do not shift the pages:
	// newer events are not listed, nothing is skipped or repeated.
	page, next, err := s.ListEvents(ctx, store.EventQuery{ClientID: "acme", Limit: 10})
	require.NoError(t, err)
	require.NotEmpty(t, next)
	insert(ctx, t, s, event("late", "acme", "shop", "shopify", "t", at(time.Hour)))
	rest := allEvents(ctx, t, s, store.EventQuery{ClientID: "acme", Limit: 10, Cursor: next})
	ids := append(eventIDs(page), eventIDs(rest)...)
	require.Len(t, ids, 23)
	require.NotContains(t, ids, "late")
}

func testListEventsLimits(ctx context.Context, t *testing.T, s store.Store) {
	var all []store.Event
	for i := range store.MaxLimit + 5 {
		all = append(all, event(fmt.Sprintf("l%04d", i), "acme", "", "shopify", "t", at(time.Duration(i)*time.Second)))
	}
	insert(ctx, t, s, all...)

	page, next, err := s.ListEvents(ctx, store.EventQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, page, store.DefaultLimit, "limit 0 means the default")
	require.NotEmpty(t, next)

	page, next, err = s.ListEvents(ctx, store.EventQuery{ClientID: "acme", Limit: 5 * store.MaxLimit})
	require.NoError(t, err)
	require.Len(t, page, store.MaxLimit, "the limit is capped")
	require.NotEmpty(t, next)
	last, next, err := s.ListEvents(ctx, store.EventQuery{ClientID: "acme", Limit: store.MaxLimit, Cursor: next})
	require.NoError(t, err)
	require.Equal(t, []string{"l0004", "l0003", "l0002", "l0001", "l0000"}, eventIDs(last))
	require.Empty(t, next)
}

func testEventActivity(ctx context.Context, t *testing.T, s store.Store) {
	since := at(0)
	mk := func(id, client, stack, provider, typ, ctype string, ts, received time.Duration) store.Event {
		e := event(id, client, stack, provider, typ, at(ts))
		e.ContentType = ctype
		e.ReceivedAt = at(received)
		return e
	}
	// since is not on the hour: the hour it is in counts whole (e9).
	insert(ctx, t, s,
		mk("e1", "acme", "shop", "shopify", "products/update", "product", time.Minute, 5*time.Minute),
		mk("e2", "acme", "shop", "shopify", "products/update", "product", 3*time.Minute, 4*time.Minute),
		mk("e3", "acme", "", "shopify", "products/update", "product", 2*time.Minute, 6*time.Minute), // client-wide
		mk("e4", "acme", "shop", "sanity", "document.publish", "post", time.Minute, 2*time.Minute),
		mk("e5", "acme", "blog", "shopify", "products/update", "product", time.Minute, time.Minute),    // other stack
		mk("e6", "globex", "shop", "shopify", "products/update", "product", time.Minute, time.Minute),  // other client
		mk("e7", "acme", "shop", "shopify", "products/update", "product", -time.Hour, -time.Minute),    // an hour before since
		mk("e8", "acme", "shop", "shopify", "products/update", "collection", 0, 7*time.Minute),         // at since
		mk("e9", "acme", "shop", "shopify", "products/update", "product", -2*time.Minute, time.Minute), // since's hour
	)
	// Inserted checked: never unchecked.
	pre := mk("e0", "acme", "shop", "shopify", "products/update", "product", time.Minute, 3*time.Minute)
	pre.DriftChecked = true
	insert(ctx, t, s, pre)

	report := func(stack string) store.ActivityReport {
		t.Helper()
		got, err := s.EventActivity(ctx, "acme", stack, since)
		require.NoError(t, err)
		return got
	}
	T := func(d time.Duration) time.Time { return store.Truncate(at(d)) }
	activity := []store.Activity{
		{ProviderName: "sanity", EventType: "document.publish", ContentType: "post", Count: 1, Last: T(time.Minute)},
		{ProviderName: "shopify", EventType: "products/update", ContentType: "collection", Count: 1, Last: T(0)},
		{ProviderName: "shopify", EventType: "products/update", ContentType: "product", Count: 5, Last: T(3 * time.Minute)},
	}
	first := report("shop")
	require.Equal(t, activity, first.Activity)
	require.Equal(t, 7, first.Unchecked, "e1-e4, e7-e9: the window does not limit them")
	require.Equal(t, ptr(T(5*time.Minute)), first.OldestUnchecked, "received time of the first committed")
	require.NotZero(t, first.Mark)

	// An event committed after the report was read is not below its mark.
	insert(ctx, t, s, mk("e10", "acme", "shop", "shopify", "products/update", "product", 4*time.Minute, 8*time.Minute))

	// A pass that observed the report marks what it reported, its stack's
	// and the client-wide events.
	state := newStack(ctx, t, s, "acme", "shop")
	commit(ctx, t, s, &state, store.Pass{Result: result("r1", "acme", "shop", at(10*time.Minute)), CheckedThrough: first.Mark})
	activity[2].Count, activity[2].Last = 6, T(4*time.Minute)
	second := report("shop")
	require.Equal(t, store.ActivityReport{Activity: activity, Unchecked: 1, OldestUnchecked: ptr(T(8 * time.Minute)), Mark: second.Mark}, second)
	require.NotZero(t, second.Mark)

	insert(ctx, t, s, mk("e11", "acme", "", "contentful", "entry.save", "post", 5*time.Minute, 9*time.Minute))
	blog := report("blog")
	require.Equal(t, 2, blog.Unchecked, "e5 of the blog, e11 client-wide (e3 was seen by the shop's pass)")
	require.Equal(t, ptr(T(time.Minute)), blog.OldestUnchecked)

	checked := func() map[string]bool {
		t.Helper()
		m := map[string]bool{}
		for _, e := range allEvents(ctx, t, s, store.EventQuery{}) {
			m[e.EventID] = e.DriftChecked
		}
		return m
	}
	require.Equal(t, map[string]bool{
		"e0": true, "e1": true, "e2": true, "e3": true, "e4": true, "e5": false, "e6": false, "e7": true, "e8": true,
		"e9": true, "e10": false, "e11": false,
	}, checked())

	// Marks never move back: the shop's second pass, then one committing
	// the older mark.
	commit(ctx, t, s, &state, store.Pass{Result: result("r2", "acme", "shop", at(11*time.Minute)), CheckedThrough: second.Mark})
	commit(ctx, t, s, &state, store.Pass{Result: result("r3", "acme", "shop", at(12*time.Minute)), CheckedThrough: first.Mark})
	third := report("shop")
	require.Equal(t, 1, third.Unchecked, "e11 was committed after the second report was read")
	require.Equal(t, ptr(T(9*time.Minute)), third.OldestUnchecked)

	blogState := newStack(ctx, t, s, "acme", "blog")
	commit(ctx, t, s, &blogState, store.Pass{Result: result("r4", "acme", "blog", at(13*time.Minute)), CheckedThrough: blog.Mark})
	require.Equal(t, map[string]bool{
		"e0": true, "e1": true, "e2": true, "e3": true, "e4": true, "e5": true, "e6": false, "e7": true, "e8": true,
		"e9": true, "e10": true, "e11": true,
	}, checked())
	last := report("shop")
	require.Zero(t, last.Unchecked)
	require.Nil(t, last.OldestUnchecked)
	require.Zero(t, last.Mark, "nothing to mark")

	got, err := s.EventActivity(ctx, "acme", "nothing-here", at(time.Hour))
	require.NoError(t, err)
	require.Empty(t, got.Activity)
}

func testDeleteExpiredEvents(ctx context.Context, t *testing.T, s store.Store) {
	now := at(0)
	var in []store.Event
	for i := range 5 {
		e := event(fmt.Sprintf("old%d", i), "acme", "", "shopify", "t", at(-time.Hour))
		e.TTLTimestamp = now.Unix() - int64(i+1)
		in = append(in, e)
	}
	fresh := event("fresh", "acme", "", "shopify", "t", at(0))
	fresh.TTLTimestamp = now.Add(time.Hour).Unix()
	forever := event("forever", "acme", "", "shopify", "t", at(0))
	forever.TTLTimestamp = 0 // no TTL: never expires
	insert(ctx, t, s, append(in, fresh, forever)...)

	n, err := s.DeleteExpiredEvents(ctx, now, 3)
	require.NoError(t, err)
	require.Equal(t, 3, n, "bounded by limit")
	n, err = s.DeleteExpiredEvents(ctx, now, 3)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = s.DeleteExpiredEvents(ctx, now, 3)
	require.NoError(t, err)
	require.Zero(t, n)
	require.ElementsMatch(t, []string{"fresh", "forever"}, eventIDs(allEvents(ctx, t, s, store.EventQuery{})))
	rep, err := s.EventActivity(ctx, "acme", "shop", at(-2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []store.Activity{{ProviderName: "shopify", EventType: "t", ContentType: "product", Count: 2,
		Last: store.Truncate(at(0))}}, rep.Activity, "deleted events leave the activity")

	// An id deleted by TTL may be stored again.
	require.Equal(t, []bool{true}, insert(ctx, t, s, in[0]))
}
