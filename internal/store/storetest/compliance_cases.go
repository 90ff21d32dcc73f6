package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

func listCompliance(ctx context.Context, t *testing.T, s store.Store, q store.ComplianceQuery) []store.ComplianceSegment {
	t.Helper()
	return drain(t, "ListCompliance", q.Cursor, q.Limit, func(cursor string) ([]store.ComplianceSegment, string, error) {
		q.Cursor = cursor
		return s.ListCompliance(ctx, q)
	})
}

// segmentOf is a segment's rule, status and times, for comparisons.
type segmentOf struct {
	Stack, Rule, Status string
	Started             time.Time
	Ended               *time.Time
}

func segments(in []store.ComplianceSegment) []segmentOf {
	out := []segmentOf{}
	for _, c := range in {
		out = append(out, segmentOf{c.StackID, c.Rule, c.Status, c.StartedAt, c.EndedAt})
	}
	return out
}

func testCompliance(ctx context.Context, t *testing.T, s store.Store) {
	_, err := s.GetOrganizationPolicy(ctx)
	require.True(t, errors.Is(err, store.ErrNotFound), "no organization policy yet: %v", err)
	doc := json.RawMessage(`{"locked":["auto_heal.require_approval"]}`)
	require.NoError(t, s.PutOrganizationPolicy(ctx, store.OrganizationPolicyRecord{Name: "agency", Document: doc, UpdatedAt: at(0)}))
	require.NoError(t, s.PutOrganizationPolicy(ctx, store.OrganizationPolicyRecord{Name: "agency2", Document: doc, UpdatedAt: at(time.Second)}))
	org, err := s.GetOrganizationPolicy(ctx)
	require.NoError(t, err)
	require.Equal(t, store.OrganizationPolicyRecord{Name: "agency2", Document: doc, UpdatedAt: store.Truncate(at(time.Second))}, org)

	write := func(stack string, d time.Duration, complete bool, rs ...store.ComplianceResult) int {
		n, err := s.RecordCompliance(ctx, store.ComplianceWrite{ClientID: "acme", StackID: stack, At: at(d), Results: rs, Complete: complete})
		require.NoError(t, err)
		return n
	}
	ok := func(rule string) store.ComplianceResult {
		return store.ComplianceResult{Rule: rule, Mode: "audit", Status: "compliant"}
	}
	bad := func(rule string) store.ComplianceResult {
		return store.ComplianceResult{Rule: rule, Mode: "audit", Status: "noncompliant", Message: rule + " fails"}
	}
	require.Equal(t, 2, write("web", 0, true, ok("tls"), bad("refs")))
	require.Equal(t, 0, write("web", time.Minute, true, ok("tls"), bad("refs")), "the same statuses write nothing")
	require.Equal(t, 2, write("web", 2*time.Minute, true, ok("tls"), ok("refs")), "a change closes one segment and opens one")
	require.Equal(t, 1, write("web", 3*time.Minute, true, ok("tls")), "a rule gone closes its segment")
	require.Equal(t, 0, write("web", 4*time.Minute, false), "an incomplete write leaves the others open")
	require.Equal(t, 1, write("shop", 0, true, bad("tls")))
	_, err = s.RecordCompliance(ctx, store.ComplianceWrite{ClientID: "acme", At: at(0)})
	require.Error(t, err, "a stack is required")

	t0, t2, t3 := store.Truncate(at(0)), store.Truncate(at(2*time.Minute)), store.Truncate(at(3*time.Minute))
	all := listCompliance(ctx, t, s, store.ComplianceQuery{ClientID: "acme", Limit: 2})
	require.Equal(t, []segmentOf{
		{"web", "tls", "compliant", t0, nil},
		{"web", "refs", "noncompliant", t0, &t2},
		{"web", "refs", "compliant", t2, &t3},
		{"shop", "tls", "noncompliant", t0, nil},
	}, segments(all))
	require.Equal(t, "refs fails", all[1].Message)
	require.NotZero(t, all[0].Seq)

	open := listCompliance(ctx, t, s, store.ComplianceQuery{ClientID: "acme", StackID: "web", OpenOnly: true})
	require.Equal(t, []segmentOf{{"web", "tls", "compliant", t0, nil}}, segments(open))
	window := listCompliance(ctx, t, s, store.ComplianceQuery{From: at(2*time.Minute + time.Second), To: at(time.Hour)})
	require.Len(t, window, 3, "segments that ended before the window are left out")
	before := listCompliance(ctx, t, s, store.ComplianceQuery{ClientID: "acme", To: at(time.Minute)})
	require.Len(t, before, 3, "segments that started after the window are left out")
	require.Empty(t, listCompliance(ctx, t, s, store.ComplianceQuery{ClientID: "globex"}))
}

// testConcurrentCompliance: evaluations of many stacks recorded at once
// (drivers may read their open segments together) each judge on their
// own stack's segments: an unchanged status writes nothing, a changed one
// ends its segment and opens the next.
func testConcurrentCompliance(ctx context.Context, t *testing.T, s store.Store) {
	const n = 24
	record := func(d time.Duration, status func(i int) string) []int {
		written := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				written[i], errs[i] = s.RecordCompliance(ctx, store.ComplianceWrite{ClientID: "acme", StackID: fmt.Sprintf("s%02d", i),
					At: at(d), Complete: true, Results: []store.ComplianceResult{{Rule: "tls", Mode: "audit", Status: status(i)}}})
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "stack %d", i)
		}
		return written
	}
	first := record(0, func(int) string { return "pass" })
	for i, w := range first {
		require.Equal(t, 1, w, "stack %d: one segment opened", i)
	}
	odd := func(i int) string {
		if i%2 == 1 {
			return "fail"
		}
		return "pass"
	}
	second := record(time.Minute, odd)
	for i, w := range second {
		require.Equal(t, 2*(i%2), w, "stack %d: unchanged writes nothing, changed closes one and opens one", i)
	}
	open := listCompliance(ctx, t, s, store.ComplianceQuery{ClientID: "acme", OpenOnly: true})
	require.Len(t, open, n)
	for _, seg := range open {
		var i int
		_, err := fmt.Sscanf(seg.StackID, "s%02d", &i)
		require.NoError(t, err)
		require.Equal(t, odd(i), seg.Status, "stack %s", seg.StackID)
	}
}

// testOrganizationPolicySwap: SwapOrganizationPolicy writes only over the
// policy it was given as read (ErrConflict otherwise, nothing written),
// so that read-modify-writes at once never lose one another's change:
// writers that retry on conflict all land.
func testOrganizationPolicySwap(ctx context.Context, t *testing.T, s store.Store) {
	first := store.OrganizationPolicyRecord{Name: "agency", Document: json.RawMessage(`{"exceptions":[]}`), UpdatedAt: at(0)}
	err := s.SwapOrganizationPolicy(ctx, first, first)
	require.ErrorIs(t, err, store.ErrConflict, "none stored")
	_, err = s.GetOrganizationPolicy(ctx)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing written")

	require.NoError(t, s.PutOrganizationPolicy(ctx, first))
	read, err := s.GetOrganizationPolicy(ctx)
	require.NoError(t, err)
	second := store.OrganizationPolicyRecord{Name: "agency", Document: json.RawMessage(`{"exceptions":["a"]}`), UpdatedAt: at(time.Second)}
	require.NoError(t, s.SwapOrganizationPolicy(ctx, read, second))
	// A writer that read the first document is refused.
	stale := store.OrganizationPolicyRecord{Name: "agency", Document: json.RawMessage(`{"exceptions":["b"]}`), UpdatedAt: at(2 * time.Second)}
	require.ErrorIs(t, s.SwapOrganizationPolicy(ctx, read, stale), store.ErrConflict)
	got, err := s.GetOrganizationPolicy(ctx)
	require.NoError(t, err)
	require.Equal(t, string(second.Document), string(got.Document), "the refused write changed nothing")
	// Another name is another policy.
	renamed := got
	renamed.Name = "other"
	require.ErrorIs(t, s.SwapOrganizationPolicy(ctx, renamed, stale), store.ErrConflict)

	// Writers at once, each adding its item and retrying on conflict:
	// every item lands.
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				old, err := s.GetOrganizationPolicy(ctx)
				if err != nil {
					errs[i] = err
					return
				}
				var doc struct {
					Exceptions []string `json:"exceptions"`
				}
				if err := json.Unmarshal(old.Document, &doc); err != nil {
					errs[i] = err
					return
				}
				doc.Exceptions = append(doc.Exceptions, fmt.Sprint("w", i))
				b, _ := json.Marshal(doc)
				err = s.SwapOrganizationPolicy(ctx, old, store.OrganizationPolicyRecord{Name: old.Name, Document: b, UpdatedAt: at(time.Minute)})
				if !errors.Is(err, store.ErrConflict) {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	got, err = s.GetOrganizationPolicy(ctx)
	require.NoError(t, err)
	var doc struct {
		Exceptions []string `json:"exceptions"`
	}
	require.NoError(t, json.Unmarshal(got.Document, &doc))
	require.Len(t, doc.Exceptions, n+1, "%s", got.Document)
	for i := range n {
		require.Contains(t, doc.Exceptions, fmt.Sprint("w", i))
	}
}
