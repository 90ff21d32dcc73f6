package store

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
)

func TestCheckDesired(t *testing.T) {
	t.Parallel()
	ok := DesiredInput{ClientID: "c", StackID: "s", Hash: "h", Document: json.RawMessage(`{}`)}
	require.NoError(t, CheckDesired(nil))
	require.NoError(t, CheckDesired([]DesiredInput{ok, ok}))
	for _, tc := range []struct {
		name    string
		edit    func(*DesiredInput)
		wantErr string
	}{
		{"no client", func(d *DesiredInput) { d.ClientID = "" }, `apply desired: client and stack ids are required (got ""/"s")`},
		{"no stack", func(d *DesiredInput) { d.StackID = "" }, `apply desired: client and stack ids are required (got "c"/"")`},
		{"no hash", func(d *DesiredInput) { d.Hash = "" }, "apply desired c/s: hash is required"},
		{"no document", func(d *DesiredInput) { d.Document = nil }, "apply desired c/s: document is not valid JSON"},
		{"bad document", func(d *DesiredInput) { d.Document = json.RawMessage(`{"a":`) }, "apply desired c/s: document is not valid JSON"},
	} {
		bad := ok
		tc.edit(&bad)
		require.EqualError(t, CheckDesired([]DesiredInput{ok, bad}), tc.wantErr, tc.name)
	}
}

func TestNewState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := DesiredInput{ClientID: "c", StackID: "s", Environment: "prod", Hash: "h1",
		Document: json.RawMessage(`{"x":1}`), Resources: map[string]string{"cdn": "cf"},
		Policy: PolicySummary{RequireApproval: []string{"data_deletion"}}, AppliedBy: "api:bob"}
	require.Equal(t, StateRecord{
		ClientID: "c", StackID: "s", Environment: "prod", DesiredHash: "h1", StateVersion: "v1.0.0",
		PreviousVersions: []string{}, Desired: d.Document, Resources: d.Resources,
		CreatedAt: now, UpdatedAt: now, Status: StatusReconciling, DriftDetails: []drift.Drift{},
		ReconciliationPolicy: d.Policy, Revision: 1,
	}, NewState(d, now))
}

func TestNextMinorVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"v1.0.0": "v1.1.0", "v1.1.7": "v1.2.0", "v0.9.3": "v0.10.0", "v12.34.56": "v12.35.0",
		"v1.2": "", "1.2.3": "", "v1.2.3.4": "", "v1.x.3": "", "v1.-1.0": "", "": "", "vv1.2.3": "",
	} {
		got, err := NextMinorVersion(in)
		if want == "" {
			require.EqualError(t, err, `state version "`+in+`" is not vMAJOR.MINOR.PATCH`, in)
			continue
		}
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
}

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckPolicy(PolicyRecord{ClientID: "c", Document: json.RawMessage(`{}`)}))
	require.NoError(t, CheckPolicy(PolicyRecord{ClientID: "c", StackID: "s", Document: json.RawMessage(`[1]`)}))
	require.EqualError(t, CheckPolicy(PolicyRecord{StackID: "s", Document: json.RawMessage(`{}`)}), "put policy: client id is required")
	require.EqualError(t, CheckPolicy(PolicyRecord{ClientID: "c", StackID: "s", Document: json.RawMessage(`{`)}),
		"put policy c/s: document is not valid JSON")
	require.EqualError(t, CheckPolicy(PolicyRecord{ClientID: "c"}), "put policy c/: document is not valid JSON")
}

func TestTruncateDrift(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("X", 3600)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, zone)
	resolved := at.Add(time.Hour)
	d := drift.Drift{ID: "d", DetectedAt: at, FirstSeen: at.Add(-time.Minute), LastSeen: at.Add(time.Minute), ResolvedAt: &resolved}
	got := TruncateDrift(d)
	require.Equal(t, Truncate(at), got.DetectedAt)
	require.Equal(t, time.UTC, got.DetectedAt.Location())
	require.Equal(t, 123456000, got.DetectedAt.Nanosecond())
	require.Equal(t, Truncate(at.Add(-time.Minute)), got.FirstSeen)
	require.Equal(t, Truncate(at.Add(time.Minute)), got.LastSeen)
	require.Equal(t, Truncate(resolved), *got.ResolvedAt)
	require.Equal(t, at.Add(time.Hour), resolved, "the caller's time is not changed")
	require.Nil(t, TruncateDrift(drift.Drift{}).ResolvedAt)
}

func TestStateDocsRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	rec := StateRecord{
		ClientID: "c", StackID: "s", Desired: json.RawMessage(`{"a": [1, 2]}`),
		PreviousVersions: []string{"v1.0.0"}, Resources: map[string]string{"cdn": "cf"},
		DriftDetails:         []drift.Drift{{ID: "d1", Component: "cms", DetectedAt: at, Expected: "x", Observed: 2.0}},
		ReconciliationPolicy: PolicySummary{RequireApproval: []string{"data_deletion"}},
		Observability:        ObservabilitySummary{AlertChannels: []string{"ops"}},
		LastKnown: drift.LastKnown{Passes: 3, Providers: map[string]drift.Sighting{
			"cms": {Value: "ok", SeenAt: &at, Reason: drift.ReasonTimeout, UnknownSince: &at},
		}},
	}
	docs, err := EncodeStateDocs(rec)
	require.NoError(t, err)
	require.Equal(t, `["v1.0.0"]`, docs.PreviousVersions)
	require.Equal(t, `{"cdn":"cf"}`, docs.Resources)
	require.Contains(t, docs.DriftDetails, `"2026-03-01T12:00:00.123456Z"`, "drift times truncated")
	require.Equal(t, at, rec.DriftDetails[0].DetectedAt, "the record's drifts are not changed")

	got := StateRecord{ClientID: "c", StackID: "s"}
	require.NoError(t, docs.Decode(&got))
	require.Equal(t, rec.PreviousVersions, got.PreviousVersions)
	require.Equal(t, rec.Resources, got.Resources)
	require.Equal(t, rec.ReconciliationPolicy, got.ReconciliationPolicy)
	require.Equal(t, rec.Observability, got.Observability)
	require.Equal(t, Truncate(at), *got.LastKnown.Providers["cms"].SeenAt, "times truncated like every stored time")
	require.Equal(t, at, *rec.LastKnown.Providers["cms"].SeenAt, "the record's observations are not changed")
	require.Len(t, got.DriftDetails, 1)
	require.Equal(t, Truncate(at), got.DriftDetails[0].DetectedAt)

	// Stored as given: the write answers what a read gives back.
	stored, err := StoredState(rec, string(rec.Desired), docs)
	require.NoError(t, err)
	require.Equal(t, got.DriftDetails, stored.DriftDetails)
	require.Equal(t, got.LastKnown, stored.LastKnown)
	require.Equal(t, rec.Desired, stored.Desired)
	stored.PreviousVersions[0] = "changed"
	stored.Resources["cdn"] = "changed"
	stored.ReconciliationPolicy.RequireApproval[0] = "changed"
	stored.Observability.AlertChannels[0] = "changed"
	require.Equal(t, "v1.0.0", rec.PreviousVersions[0], "slices and maps are copies")
	require.Equal(t, "cf", rec.Resources["cdn"])
	require.Equal(t, "data_deletion", rec.ReconciliationPolicy.RequireApproval[0])
	require.Equal(t, "ops", rec.Observability.AlertChannels[0])

	empty, err := StoredState(StateRecord{Desired: json.RawMessage{}, DriftDetails: []drift.Drift{}}, "", StateDocs{})
	require.NoError(t, err)
	require.Nil(t, empty.Desired)
	require.NotNil(t, empty.DriftDetails)
	require.Empty(t, empty.DriftDetails)
}

func TestStateDocsErrors(t *testing.T) {
	t.Parallel()
	_, err := EncodeStateDocs(StateRecord{ClientID: "c", StackID: "s", Desired: json.RawMessage(`{`)})
	require.EqualError(t, err, "state c/s: desired is not valid JSON")
	_, err = EncodeStateDocs(StateRecord{ClientID: "c", StackID: "s",
		DriftDetails: []drift.Drift{{ID: "d", Expected: math.Inf(1)}}})
	require.ErrorContains(t, err, "state c/s: json: ")

	docs, err := EncodeStateDocs(StateRecord{})
	require.NoError(t, err)
	docs.Resources = `[`
	rec := StateRecord{ClientID: "c", StackID: "s"}
	require.ErrorContains(t, docs.Decode(&rec), "decode state c/s: ")
	_, err = StoredState(StateRecord{ClientID: "c", StackID: "s", DriftDetails: []drift.Drift{{ID: "d"}}}, "", StateDocs{DriftDetails: `{`})
	require.ErrorContains(t, err, "decode state c/s: ")
}
