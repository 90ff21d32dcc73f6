package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPolicyNotes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec PolicySpec
		want []string
	}{
		{name: "default: nothing surprising", spec: PolicySpec{Schedule: Schedule{Interval: Duration(20 * time.Second)}}},
		{
			name: "one pass, no grace period",
			spec: PolicySpec{Schedule: Schedule{Interval: Duration(10 * time.Second)}, Confirmation: Confirmation{Observations: 1}},
			want: []string{"confirmation: observations 1 and no grace_period confirm drift on a single pass's observation " +
				"(from a stack's second pass on): one blip is reported, and healed where auto_heal allows"},
		},
		{
			name: "grace period shorter than the interval: looked at again, not surprising",
			spec: PolicySpec{Confirmation: Confirmation{Observations: 2, GracePeriod: Duration(30 * time.Second)}},
		},
		{
			name: "max_unknown shorter than the interval",
			spec: PolicySpec{Schedule: Schedule{Interval: Duration(time.Hour)},
				Confirmation: Confirmation{Observations: 2, GracePeriod: Duration(2 * time.Hour), MaxUnknown: Duration(10 * time.Minute)}},
			want: []string{"confirmation: max_unknown 10m is shorter than schedule.interval 1h: a provider API unknown at two " +
				"scheduled passes in a row becomes provider_unreachable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := tt.spec
			require.Equal(t, tt.want, EffectivePolicy(&spec, nil).Notes())
		})
	}
}

func TestConfigNotesNamePolicies(t *testing.T) {
	t.Parallel()
	c := Config{Policies: []Policy{
		{Metadata: PolicyMeta{ClientID: "acme"}, Spec: PolicySpec{Schedule: Schedule{Interval: Duration(time.Hour)},
			Confirmation: Confirmation{MaxUnknown: Duration(time.Minute)}}},
		{Metadata: PolicyMeta{ClientID: "acme", StackID: "web"}, Spec: PolicySpec{
			Schedule: Schedule{Interval: Duration(time.Second)}, Confirmation: Confirmation{Observations: 1}}},
	}}
	notes := c.Notes()
	require.Len(t, notes, 2, "%q", notes)
	require.Contains(t, notes[0], "policy acme: confirmation: max_unknown 1m is shorter than schedule.interval 1h")
	require.Contains(t, notes[1], "policy acme/web: confirmation: observations 1 and no grace_period")
}

func TestEffectiveConfirmation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Confirmation
		want Confirmation
	}{
		{"neither set: the default", Confirmation{}, Confirmation{Observations: 2, GracePeriod: Duration(30 * time.Second), MaxUnknown: Duration(10 * time.Minute)}},
		{"observations alone: no grace period", Confirmation{Observations: 1}, Confirmation{Observations: 1, MaxUnknown: Duration(10 * time.Minute)}},
		{"grace period alone", Confirmation{GracePeriod: Duration(time.Second)}, Confirmation{GracePeriod: Duration(time.Second), MaxUnknown: Duration(10 * time.Minute)}},
		{"max_unknown as written", Confirmation{Observations: 3, MaxUnknown: Duration(time.Minute)}, Confirmation{Observations: 3, MaxUnknown: Duration(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := EffectivePolicy(&PolicySpec{Confirmation: tt.in}, nil).Confirmation
			got.CriticalImmediate = nil
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMaxUnknownValidation(t *testing.T) {
	t.Parallel()
	_, err := DecodePolicyJSON([]byte(`{"confirmation": {"max_unknown": "10ms"}}`))
	require.ErrorContains(t, err, "confirmation.max_unknown: must be at least 1s")
	spec, err := DecodePolicyJSON([]byte(`{"confirmation": {"max_unknown": "2m"}, "auto_heal": {"allowed_drift_types": ["provider_unauthorized"]}}`))
	require.NoError(t, err)
	require.Equal(t, Duration(2*time.Minute), spec.Confirmation.MaxUnknown)
}
