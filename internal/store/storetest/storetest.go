// Package storetest is the conformance suite of store.Store. Every driver has
// one TestXxxStore that calls Exercise with a function making a fresh, empty
// store; the suite pins down each method's documented behaviour, so drivers
// agree in meaning. It assumes nothing about the database behind the store.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Exercise runs the conformance suite. newStore returns a fresh, empty store
// for one subtest and closes it in t.Cleanup. Subtests run in parallel, each
// with its own store; Exercise returns when they have all finished, so ctx
// only needs to outlive the call.
func Exercise(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	ExerciseExcept(ctx, t, newStore, nil)
}

// ExerciseExcept is Exercise without the cases named in except: those of
// methods a driver declares it does not implement yet. They are not run
// (not skipped: a skip would pass unnoticed); the driver's own tests must
// show that it refuses those methods with an error instead.
func ExerciseExcept(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store, except []string) {
	t.Helper()
	t.Run("conformance", func(t *testing.T) {
		healCases(ctx, t, newStore)                           // heal_cases.go: store.Heals
		for _, c := range append(cases(), streamCases()...) { // stream_cases.go: store.StreamStore
			if slices.Contains(except, c.name) {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(ctx, t, newStore(t))
			})
		}

		outboxConformance(ctx, t, newStore) // outbox_cases.go: store.OutboxStore

		leaseCases(ctx, t, newStore) // lease_cases.go: store.Leases, Pass.Fence

		opsCases(ctx, t, newStore, except) // ops_cases.go: schema version, copy
	})
}

type testCase struct {
	name string
	run  func(ctx context.Context, t *testing.T, s store.Store)
}

func cases() []testCase {
	return []testCase{
		{"Ping", testPing},
		{"ApplyDesiredNew", testApplyDesiredNew},
		{"ApplyDesiredUnchanged", testApplyDesiredUnchanged},
		{"ApplyDesiredChanged", testApplyDesiredChanged},
		{"ApplyDesiredBatch", testApplyDesiredBatch},
		{"ApplyDesiredEnvironmentOnly", testApplyDesiredEnvironmentOnly},
		{"ApplyDesiredSummariesOnly", testApplyDesiredSummariesOnly},
		{"Holds", testHolds}, // hold_cases.go
		{"GetStateNotFound", testGetStateNotFound},
		{"DeleteStack", testDeleteStack}, // stack_delete_cases.go
		{"ListStates", testListStates},
		{"ListShardStacks", testListShardStacks},
		{"ListStackApps", testListStackApps}, // stack_apps_cases.go
		{"UpdateState", testUpdateState},
		{"UpdateStateConflict", testUpdateStateConflict},
		{"UpdateStateConcurrent", testUpdateStateConcurrent},
		{"LastKnown", testLastKnown},
		{"Policies", testPolicies},
		{"InsertEventsDedupe", testInsertEventsDedupe},
		{"EventsRoundTrip", testEventsRoundTrip},
		{"ListEventsFilters", testListEventsFilters},
		{"ListEventsPagination", testListEventsPagination},
		{"ListEventsLimits", testListEventsLimits},
		{"EventActivity", testEventActivity},
		{"DeleteExpiredEvents", testDeleteExpiredEvents},
		{"IngestEvents", testIngestEvents},
		{"IngestEventsInvalid", testIngestEventsInvalid},
		{"IngestEventsConcurrent", testIngestEventsConcurrent},
		{"ContentNewestWins", testContentNewestWins},
		{"ListContent", testListContent},
		{"CommitPass", testCommitPass},
		{"CommitPassConflictWritesNothing", testCommitPassConflict},
		{"CommitPassNotFound", testCommitPassNotFound},
		{"CommitPassConcurrent", testCommitPassConcurrent},
		{"CommitPassFailsWhole", testCommitPassFailsWhole},
		{"CommitPassConcurrentResolves", testCommitPassConcurrentResolves},
		{"LoadPass", testLoadPass},
		{"Dashboards", testDashboards},
		{"DashboardRollUp", testDashboardRollUp}, // dashboard_rollup_cases.go
		{"AcknowledgeDrift", testAcknowledgeDrift},
		{"ListDrifts", testListDrifts},
		{"ListReconciliations", testListReconciliations},
		{"DeleteReconciliations", testDeleteReconciliations},
		{"DeleteReconciliationsScoped", testDeleteReconciliationsScoped},
		{"AuditChain", testAuditChain},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditInvalidChanges", testAuditInvalidChanges},
		{"AuditHeads", testAuditHeads},
		{"AuditBrief", testAuditBrief},
		{"TokensAndAuditRetention", testTokenCases},
		{"DataKeys", testDataKeys},                             // payload_cases.go
		{"PayloadRows", testPayloadRows},                       // payload_cases.go
		{"BatchLimits", testBatchLimits},                       // limit_cases.go
		{"Forecasts", testForecasts},                           // forecast_cases.go
		{"Compliance", testCompliance},                         // compliance_cases.go
		{"ConcurrentCompliance", testConcurrentCompliance},     // compliance_cases.go
		{"OrganizationPolicySwap", testOrganizationPolicySwap}, // compliance_cases.go
		{"Promotions", testPromotions},                         // promotion_cases.go
		{"Snapshots", testSnapshots},                           // snapshot_cases.go
		{"ConcurrentSnapshots", testConcurrentSnapshots},       // snapshot_cases.go
		{"SnapshotsAmongPasses", testSnapshotsAmongPasses},     // snapshot_cases.go
		{"RollbackRecords", testRollbackRecords},               // snapshot_cases.go
	}
}

// at is a fixed time plus d. It has nanoseconds and a zone other than UTC:
// every stored time must come back as store.Truncate of what was written.
func at(d time.Duration) time.Time {
	return time.Date(2026, 11, 3, 10, 4, 5, 123456789, time.FixedZone("CET", 3600)).Add(d)
}

func ptr[T any](v T) *T { return &v }

func testPing(ctx context.Context, t *testing.T, s store.Store) {
	require.NoError(t, s.Ping(ctx))
}

// desired is a stack's desired input whose document names the hash.
func desired(client, stack, hash string) store.DesiredInput {
	return store.DesiredInput{
		ClientID:    client,
		StackID:     stack,
		Environment: "prod",
		Hash:        hash,
		Document:    json.RawMessage(fmt.Sprintf(`{"stack":%q,"hash":%q}`, stack, hash)),
		Resources:   map[string]string{"site_url": "https://" + stack + ".example"},
		Policy: store.PolicySummary{
			AutoHeal: true, MaxHealAttempts: 3, HealBackoff: "exponential",
			RequireApproval: []string{"resource_replacement"},
		},
		Observability: store.ObservabilitySummary{MetricsEndpoint: "/metrics", AlertChannels: []string{"slack"}},
		AppliedBy:     "alice",
	}
}

func apply(ctx context.Context, t *testing.T, s store.Store, in ...store.DesiredInput) []store.ApplyResult {
	t.Helper()
	res, err := s.ApplyDesired(ctx, in)
	require.NoError(t, err)
	require.Len(t, res, len(in))
	return res
}

func getState(ctx context.Context, t *testing.T, s store.Store, client, stack string) store.StateRecord {
	t.Helper()
	rec, err := s.GetState(ctx, client, stack)
	require.NoError(t, err)
	return rec
}

// newStack applies a new stack and returns its record.
func newStack(ctx context.Context, t *testing.T, s store.Store, client, stack string) store.StateRecord {
	t.Helper()
	apply(ctx, t, s, desired(client, stack, "h-"+stack))
	return getState(ctx, t, s, client, stack)
}

// mkDrift is a drift of a stack with JSON-native expected/observed values, so
// it reads back equal.
func mkDrift(client, stack, component string, seen time.Time) drift.Drift {
	return drift.Drift{
		ID:           drift.ID(client, stack, drift.TypeIntegration, component),
		ClientID:     client,
		StackID:      stack,
		Code:         drift.WebhookBroken,
		Type:         drift.TypeIntegration,
		Component:    component,
		Expected:     map[string]any{"topic": "products/update", "active": true},
		Observed:     nil,
		Severity:     drift.SeverityHigh,
		Cause:        "",
		DetectedAt:   seen,
		FirstSeen:    seen,
		LastSeen:     seen,
		Observations: 1,
	}
}

// stored is how a drift reads back: times truncated.
func stored(d drift.Drift) drift.Drift {
	d.DetectedAt = store.Truncate(d.DetectedAt)
	d.FirstSeen = store.Truncate(d.FirstSeen)
	d.LastSeen = store.Truncate(d.LastSeen)
	if d.ResolvedAt != nil {
		d.ResolvedAt = ptr(store.Truncate(*d.ResolvedAt))
	}
	return d
}

func sortDrifts(ds []drift.Drift) []drift.Drift {
	out := append([]drift.Drift(nil), ds...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].StackID != out[j].StackID {
			return out[i].StackID < out[j].StackID
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// result is a reconciliation result of a stack started at start.
func result(id, client, stack string, start time.Time) store.ReconciliationResult {
	return store.ReconciliationResult{
		ReconciliationID: id,
		ClientID:         client,
		StackID:          stack,
		Trigger:          "schedule",
		StartedAt:        start,
		CompletedAt:      start.Add(1500 * time.Millisecond),
		Status:           store.ResultSuccess,
		StateVersion:     "v1.0.0",
	}
}

func storedResult(r store.ReconciliationResult) store.ReconciliationResult {
	r.StartedAt = store.Truncate(r.StartedAt)
	r.CompletedAt = store.Truncate(r.CompletedAt)
	return r
}

// commit commits a pass on *state and replaces it with the stored state.
func commit(ctx context.Context, t *testing.T, s store.Store, state *store.StateRecord, p store.Pass) {
	t.Helper()
	p.State = *state
	got, err := s.CommitPass(ctx, p)
	require.NoError(t, err)
	require.Equal(t, state.Revision+1, got.Revision)
	*state = got
}

func listDrifts(ctx context.Context, t *testing.T, s store.Store, q store.DriftQuery) []drift.Drift {
	t.Helper()
	ds, err := s.ListDrifts(ctx, q)
	require.NoError(t, err)
	return ds
}

// drain pages through a list method from cursor on: list answers the page
// after a cursor. Every page respects limit, a page with a next cursor is
// not empty, and the listing ends.
func drain[T any](t *testing.T, what string, cursor string, limit int, list func(cursor string) ([]T, string, error)) []T {
	t.Helper()
	var out []T
	for range 10000 {
		page, next, err := list(cursor)
		require.NoError(t, err)
		if limit > 0 {
			require.LessOrEqual(t, len(page), limit)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		require.NotEmpty(t, page, "a page with a next cursor must not be empty")
		cursor = next
	}
	t.Fatalf("%s never ended", what)
	return nil
}

// allReconciliations pages through ListReconciliations with limit.
func allReconciliations(ctx context.Context, t *testing.T, s store.Store, client, stack string, limit int) []store.ReconciliationResult {
	t.Helper()
	return drain(t, "ListReconciliations", "", limit, func(cursor string) ([]store.ReconciliationResult, string, error) {
		return s.ListReconciliations(ctx, client, stack, cursor, limit)
	})
}

func allAudit(ctx context.Context, t *testing.T, s store.Store, q store.AuditQuery) []store.AuditEntry {
	t.Helper()
	return drain(t, "ListAudit", q.Cursor, q.Limit, func(cursor string) ([]store.AuditEntry, string, error) {
		q.Cursor = cursor
		return s.ListAudit(ctx, q)
	})
}

func allEvents(ctx context.Context, t *testing.T, s store.Store, q store.EventQuery) []store.Event {
	t.Helper()
	return drain(t, "ListEvents", q.Cursor, q.Limit, func(cursor string) ([]store.Event, string, error) {
		q.Cursor = cursor
		return s.ListEvents(ctx, q)
	})
}
