package config

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDiffJSON(t *testing.T) {
	t.Parallel()
	var from, to any
	require.NoError(t, json.Unmarshal([]byte(`{"a": 1, "b": {"c": "x", "d": [1, 2]}, "gone": true, "odd key": 1}`), &from))
	require.NoError(t, json.Unmarshal([]byte(`{"a": 1, "b": {"c": "y", "d": [1, 2], "e": null, "f": 2}, "odd key": 2}`), &to))
	require.Equal(t, []Change{
		{Op: "~", Path: "b.c", From: "x", To: "y"},
		{Op: "+", Path: "b.f", To: float64(2)},
		{Op: "-", Path: "gone", From: true},
		{Op: "~", Path: `["odd key"]`, From: float64(1), To: float64(2)},
	}, DiffJSON("", from, to))
	require.Empty(t, DiffJSON("", from, from))
}

func TestComparePolicy(t *testing.T) {
	t.Parallel()
	// effective is a spec as the server returns it: defaults filled in.
	effective := func(spec PolicySpec) json.RawMessage {
		b, err := json.Marshal(EffectivePolicy(&spec, nil))
		require.NoError(t, err)
		return b
	}
	healing := PolicySpec{AutoHeal: AutoHeal{Enabled: true}}
	healing5 := PolicySpec{AutoHeal: AutoHeal{Enabled: true, MaxAttempts: 5}}
	client := func(spec PolicySpec) Policy {
		return Policy{Metadata: PolicyMeta{ClientID: "acme"}, Spec: spec}
	}
	stack := func(spec PolicySpec) Policy {
		return Policy{Metadata: PolicyMeta{ClientID: "acme", StackID: "web"}, Spec: spec}
	}
	for _, tc := range []struct {
		name    string
		pol     Policy
		source  string
		current json.RawMessage
		action  PolicyAction
		changes []Change
		err     string
	}{
		{name: "server knows neither client nor stack", pol: client(healing), action: PolicyCreate},
		{name: "client policy over the default", pol: client(healing), source: PolicySourceDefault, current: effective(PolicySpec{}),
			action: PolicyCreate, changes: []Change{{Op: "~", Path: "auto_heal.enabled", From: false, To: true}}},
		{name: "client policy as the server's", pol: client(healing), source: PolicySourceClient, current: effective(healing),
			action: PolicyUnchanged},
		{name: "defaults written out are no change", pol: client(PolicySpec{}), source: PolicySourceClient, current: effective(DefaultPolicy()),
			action: PolicyUnchanged},
		{name: "client policy changed", pol: client(healing5), source: PolicySourceClient, current: effective(healing),
			action: PolicyChange, changes: []Change{{Op: "~", Path: "auto_heal.max_attempts", From: float64(3), To: float64(5)}}},
		{name: "stack policy where the client's is in effect", pol: stack(healing), source: PolicySourceClient, current: effective(healing),
			action: PolicyCreate},
		{name: "stack policy changed", pol: stack(healing), source: PolicySourceStack, current: effective(healing5),
			action: PolicyChange, changes: []Change{{Op: "~", Path: "auto_heal.max_attempts", From: float64(5), To: float64(3)}}},
		{name: "predict turned on", pol: client(PolicySpec{Predict: Predict{Enabled: true, NotifyLead: Duration(24 * time.Hour), Preempt: []string{"rebuild"}}}),
			source: PolicySourceClient, current: effective(PolicySpec{}), action: PolicyChange, changes: []Change{
				{Op: "~", Path: "predict.enabled", From: false, To: true},
				{Op: "~", Path: "predict.notify_lead", From: "72h0m0s", To: "24h0m0s"},
				{Op: "+", Path: "predict.preempt", To: []any{"rebuild"}},
			}},
		{name: "server's policy unreadable", pol: stack(healing), source: PolicySourceStack, current: json.RawMessage(`{`),
			err: "decode the server's policy of acme/web: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			action, changes, err := ComparePolicy(tc.pol, tc.source, tc.current)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.action, action)
			require.Equal(t, tc.changes, changes)
		})
	}
}
