package compliance

import (
	"fmt"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// Seconds are (rule, stack)-seconds spent in each status over a period.
// Evaluated is Compliant + Noncompliant: unknown and excepted time is
// reported apart, in neither.
type Seconds struct {
	Compliant    float64 `json:"compliant"`
	Noncompliant float64 `json:"noncompliant"`
	Unknown      float64 `json:"unknown"`
	Excepted     float64 `json:"excepted"`
	Evaluated    float64 `json:"evaluated"`
}

func (s *Seconds) add(status string, d float64) {
	switch Status(status) {
	case Compliant:
		s.Compliant += d
		s.Evaluated += d
	case Noncompliant:
		s.Noncompliant += d
		s.Evaluated += d
	case Excepted:
		s.Excepted += d
	default:
		s.Unknown += d
	}
}

// Score is compliant over evaluated seconds, nil when nothing was
// evaluated (all unknown or excepted, or no rules).
func (s Seconds) Score() *float64 {
	if s.Evaluated <= 0 {
		return nil
	}
	v := s.Compliant / s.Evaluated
	return &v
}

// Report is the compliance of a period: the score over every (rule,
// stack) and each pair's time per status, with its latest status.
type Report struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Score   *float64  `json:"score"`
	Seconds Seconds   `json:"seconds"`
	Items   []Item    `json:"items"`
}

// Item is one (rule, stack) of a Report.
type Item struct {
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	Rule     string `json:"rule"`
	Mode     string `json:"mode"`
	// Status is the latest in the period, since Since; Current says
	// whether it still holds (false: the rule stopped applying).
	Status  string    `json:"status"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since"`
	Current bool      `json:"current"`
	Score   *float64  `json:"score"`
	Seconds Seconds   `json:"seconds"`
}

// Summarize computes the report of [from, to) from the timeline's
// segments (any order); an open segment lasts until to.
func Summarize(segs []store.ComplianceSegment, from, to time.Time) Report {
	rep := Report{From: from, To: to, Items: []Item{}}
	items := map[[3]string]*Item{}
	var keys [][3]string
	for _, s := range segs {
		start, end := s.StartedAt, to
		if s.EndedAt != nil && s.EndedAt.Before(to) {
			end = *s.EndedAt
		}
		if start.Before(from) {
			start = from
		}
		k := [3]string{s.ClientID, s.StackID, s.Rule}
		it, ok := items[k]
		if !ok {
			it = &Item{ClientID: s.ClientID, StackID: s.StackID, Rule: s.Rule}
			items[k] = it
			keys = append(keys, k)
		}
		if d := end.Sub(start).Seconds(); d > 0 {
			it.Seconds.add(s.Status, d)
			rep.Seconds.add(s.Status, d)
		}
		if !s.StartedAt.Before(it.Since) || it.Status == "" {
			it.Status, it.Mode, it.Message, it.Since, it.Current = s.Status, s.Mode, s.Message, s.StartedAt, s.EndedAt == nil
		}
	}
	slices.SortFunc(keys, func(a, b [3]string) int {
		for i := range a {
			if a[i] != b[i] {
				if a[i] < b[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	for _, k := range keys {
		it := items[k]
		it.Score = it.Seconds.Score()
		rep.Items = append(rep.Items, *it)
	}
	rep.Score = rep.Seconds.Score()
	return rep
}

// PolicyReport is the report in the Kubernetes policy working group's
// format (wgpolicyk8s.io/v1alpha2), of the current statuses: compliant is
// pass, noncompliant fail, excepted skip, unknown error.
type PolicyReport struct {
	APIVersion string               `json:"apiVersion"`
	Kind       string               `json:"kind"`
	Metadata   PolicyReportMeta     `json:"metadata"`
	Summary    PolicyReportSummary  `json:"summary"`
	Results    []PolicyReportResult `json:"results"`
}

// PolicyReportMeta names the report.
type PolicyReportMeta struct {
	Name              string    `json:"name"`
	CreationTimestamp time.Time `json:"creationTimestamp"`
}

// PolicyReportSummary counts results by outcome.
type PolicyReportSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// PolicyReportResult is one (rule, stack).
type PolicyReportResult struct {
	Policy     string               `json:"policy"`
	Rule       string               `json:"rule"`
	Result     string               `json:"result"`
	Scored     bool                 `json:"scored"`
	Category   string               `json:"category"`
	Message    string               `json:"message,omitempty"`
	Source     string               `json:"source"`
	Timestamp  PolicyReportTime     `json:"timestamp"`
	Resources  []PolicyReportObject `json:"resources"`
	Properties map[string]string    `json:"properties"`
}

// PolicyReportTime is a protobuf Timestamp, as the format has it.
type PolicyReportTime struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

// PolicyReportObject names the stack a result is about.
type PolicyReportObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// ToPolicyReport converts a report's current items; policy names the
// OrganizationPolicy, scope the client ("" for every client).
func ToPolicyReport(rep Report, policy, scope string, now time.Time) PolicyReport {
	name := "blackwell-compliance"
	if scope != "" {
		name += "-" + scope
	}
	pr := PolicyReport{APIVersion: "wgpolicyk8s.io/v1alpha2", Kind: "PolicyReport",
		Metadata: PolicyReportMeta{Name: name, CreationTimestamp: now.UTC()}, Results: []PolicyReportResult{}}
	for _, it := range rep.Items {
		if !it.Current {
			continue
		}
		res := PolicyReportResult{Policy: policy, Rule: it.Rule, Scored: true, Category: it.Mode, Message: it.Message,
			Source: "blackwell", Timestamp: PolicyReportTime{Seconds: it.Since.Unix()},
			Resources:  []PolicyReportObject{{APIVersion: "blackwell.io/v1", Kind: "Stack", Namespace: it.ClientID, Name: it.StackID}},
			Properties: map[string]string{"status": it.Status, "since": it.Since.UTC().Format(time.RFC3339)}}
		if it.Score != nil {
			res.Properties["score"] = fmt.Sprintf("%.4f", *it.Score)
		}
		switch Status(it.Status) {
		case Compliant:
			res.Result = "pass"
			pr.Summary.Pass++
		case Noncompliant:
			res.Result = "fail"
			pr.Summary.Fail++
		case Excepted:
			res.Result = "skip"
			pr.Summary.Skip++
		default:
			res.Result = "error"
			pr.Summary.Error++
		}
		pr.Results = append(pr.Results, res)
	}
	return pr
}

// ExpireExceptions corrects the current items that a pass recorded as
// excepted when no exception of org covers them at now any more: the
// rule was failing, so it is noncompliant from the exception's end, even
// before the next pass records it.
func (r *Report) ExpireExceptions(org *config.OrganizationSpec, now time.Time) {
	for i := range r.Items {
		it := &r.Items[i]
		if !it.Current || Status(it.Status) != Excepted {
			continue
		}
		if _, ok := org.Exception(it.Rule, it.ClientID, it.StackID, now); ok {
			continue
		}
		it.Status, it.Message = string(Noncompliant), "the exception that excepted it has expired or was removed"
	}
}
