package report

// KPI is one of the spec's KPIs with its target.
type KPI struct {
	// Name is stable (JSON, CSV); Label is for people.
	Name  string `json:"name"`
	Label string `json:"label"`
	// Value is nil when there is nothing to measure (no drift, no heal).
	Value *float64 `json:"value"`
	// Unit is "seconds" or "ratio" (0 to 1).
	Unit string `json:"unit"`
	// Target: Value Op TargetValue meets it ("<", ">" or ">=").
	Op          string  `json:"target_op"`
	TargetValue float64 `json:"target_value"`
	// Met is nil without a value.
	Met *bool `json:"met"`
	// Samples is how many occurrences, attempts or acts the value is
	// computed over (stacks for compliance).
	Samples int `json:"samples"`
}

// Units of KPI values.
const (
	UnitSeconds = "seconds"
	UnitRatio   = "ratio"
)

// kpis are the spec's KPIs of f: its Success Metrics table and Phase 2's
// success criteria.
func kpis(f Figures) []KPI {
	out := []KPI{
		{Name: "drift_detection_time", Label: "Drift detection time (p95)", Value: f.DetectionTime.P95Seconds, Unit: UnitSeconds,
			Op: "<", TargetValue: 120, Samples: f.DetectionTime.Count},
		{Name: "mttd", Label: "Mean time to detection", Value: f.DetectionTime.MeanSeconds, Unit: UnitSeconds,
			Op: "<", TargetValue: 120, Samples: f.DetectionTime.Count},
		{Name: "mtth", Label: "Mean time to healing", Value: f.TimeToHeal.MeanSeconds, Unit: UnitSeconds,
			Op: "<", TargetValue: 300, Samples: f.TimeToHeal.Count},
		{Name: "mttr", Label: "Mean time to recovery", Value: f.TimeToRecovery.MeanSeconds, Unit: UnitSeconds,
			Op: "<", TargetValue: 600, Samples: f.TimeToRecovery.Count},
		{Name: "auto_heal_success_rate", Label: "Auto-heal success rate", Value: f.AutoHealSuccessRate, Unit: UnitRatio,
			Op: ">", TargetValue: 0.90, Samples: f.HealsSucceeded + f.HealsFailed},
		{Name: "false_positive_rate", Label: "False-positive rate", Value: f.FalsePositiveRate, Unit: UnitRatio,
			Op: "<", TargetValue: 0.05, Samples: f.DriftsDetected},
		{Name: "automation_rate", Label: "Automatic heals / (automatic + manual)", Value: f.AutomationRate, Unit: UnitRatio,
			Op: ">=", TargetValue: 0.80, Samples: f.AutomaticHeals + f.ManualInterventions},
		{Name: "configuration_compliance", Label: "Configuration compliance (drift-free time)", Value: f.Compliance, Unit: UnitRatio,
			Op: ">=", TargetValue: 0.99, Samples: f.Stacks},
	}
	for i := range out {
		k := &out[i]
		if k.Value == nil {
			continue
		}
		v := *k.Value
		switch k.Op {
		case "<":
			k.Met = ptr(v < k.TargetValue)
		case ">":
			k.Met = ptr(v > k.TargetValue)
		default:
			k.Met = ptr(v >= k.TargetValue)
		}
	}
	return out
}
