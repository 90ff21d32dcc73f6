package report

import (
	"time"
)

// Kind is the report's kind field.
const Kind = "KPIReport"

// Report is the KPI report of a period, computed from the audit log alone.
type Report struct {
	Kind        string    `json:"kind"`
	GeneratedAt time.Time `json:"generated_at"`
	// From and To bound the period: [From, To).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// ClientID is the client the report covers; empty for every client.
	ClientID string `json:"client_id,omitempty"`
	// Source is the part of the audit chain the figures come from.
	Source Source `json:"source"`
	// Overall is every covered client together; Clients one by one, by id.
	Overall Figures   `json:"overall"`
	Clients []Figures `json:"clients"`
	// Series is the period cut in buckets (a day each, longer for long
	// periods), overall, for the charts.
	Series []Bucket `json:"series"`
	// NotInAuditLog are the spec's KPIs the audit log cannot give, and why.
	NotInAuditLog []Omission `json:"not_in_audit_log"`
}

// Source is the part of the audit chain a report was computed from.
type Source struct {
	// HeadSeq and HeadHash are the chain's head when the report read it:
	// no entry after it was read. Zero and empty for an empty chain.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// FirstSeq is the first entry read (above 1 when the chain was pruned
	// behind a checkpoint, or for a client whose first entry came later);
	// EntriesRead counts the entries read (the client's only, for a
	// client's report).
	FirstSeq    int64 `json:"first_seq"`
	EntriesRead int64 `json:"entries_read"`
	// Verify is the command that checks the chain up to the head.
	Verify string `json:"verify"`
}

// Figures are the KPIs of one client, or of every covered client.
type Figures struct {
	ClientID string `json:"client_id,omitempty"`
	// Stacks that existed at some time in the period.
	Stacks int `json:"stacks"`
	// Drift occurrences detected in the period; of them, resolved before
	// its end, and still open at its end.
	DriftsDetected  int `json:"drifts_detected"`
	DriftsResolved  int `json:"drifts_resolved"`
	DriftsOpenAtEnd int `json:"drifts_open_at_end"`
	// DetectionTime (MTTD is its mean), TimeToHeal (MTTH) and
	// TimeToRecovery (MTTR) of the period's occurrences, from their onset.
	DetectionTime  Durations `json:"detection_time"`
	TimeToHeal     Durations `json:"time_to_heal"`
	TimeToRecovery Durations `json:"time_to_recovery"`
	// Heal attempts that ended in the period, and the success rate.
	HealsSucceeded      int      `json:"heals_succeeded"`
	HealsFailed         int      `json:"heals_failed"`
	AutoHealSuccessRate *float64 `json:"auto_heal_success_rate"`
	// Acknowledgements in the period by reason; "unspecified" counts
	// entries without one of the three reasons (written before reasons
	// were required).
	Acknowledgements map[string]int `json:"acknowledgements"`
	// FalsePositives: occurrences of the period acknowledged as
	// false_positive; the rate is over DriftsDetected.
	FalsePositives    int      `json:"false_positives"`
	FalsePositiveRate *float64 `json:"false_positive_rate"`
	// AutomaticHeals succeeded without an approval, ApprovedHeals after
	// one; ManualInterventions are people's acts on drift (acknowledge,
	// approve, reject, roll back). AutomationRate is automatic / (automatic
	// + manual).
	AutomaticHeals      int      `json:"automatic_heals"`
	ApprovedHeals       int      `json:"approved_heals"`
	ManualInterventions int      `json:"manual_interventions"`
	AutomationRate      *float64 `json:"automation_rate"`
	// StackSeconds is the stacks' time in the period; DriftStackSeconds the
	// part of it with an open drift. Compliance is the rest's share.
	StackSeconds      float64  `json:"stack_seconds"`
	DriftStackSeconds float64  `json:"drift_stack_seconds"`
	Compliance        *float64 `json:"configuration_compliance"`
	// KPIs are the spec's KPIs among the figures, with their targets.
	KPIs []KPI `json:"kpis"`
}

// Bucket is one slice [Start, End) of the period, overall.
type Bucket struct {
	Start               time.Time `json:"start"`
	End                 time.Time `json:"end"`
	DriftsDetected      int       `json:"drifts_detected"`
	AutomaticHeals      int       `json:"automatic_heals"`
	HealsFailed         int       `json:"heals_failed"`
	ManualInterventions int       `json:"manual_interventions"`
	StackSeconds        float64   `json:"stack_seconds"`
	DriftStackSeconds   float64   `json:"drift_stack_seconds"`
	Compliance          *float64  `json:"configuration_compliance"`
}

// Omission is a KPI of the spec the report leaves out, and why.
type Omission struct {
	KPI    string `json:"kpi"`
	Reason string `json:"reason"`
}

// omissions are the spec's KPIs the audit log does not carry.
func omissions() []Omission {
	return []Omission{
		{KPI: "system_availability", Reason: "neither the reconciler's uptime nor probe results are audit entries: " +
			"a resource that stays unhealthy reaches the log only as a resource_unhealthy drift, which configuration " +
			"compliance counts; for uptime, use Prometheus's up series of the /metrics scrape and blackwell_stack_status"},
		{KPI: "reconciliation_time", Reason: "a pass writes audit entries only when it finds or clears drift or decides a heal, " +
			"and never its duration: use the blackwell_reconciliation_duration_seconds metric"},
	}
}
