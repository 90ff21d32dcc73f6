package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// DefaultPolicy is the policy of a stack that has none: a scheduled pass
// every 5 minutes, drift confirmed by 2 observations and 30s (authoritative
// critical drift at once), a provider API unknown for 10m reported, auto-heal off (enforce mode, 3 attempts, exponential backoff from
// 10s to 10m when turned on) for provider_missing, webhook_broken and
// resource_unhealthy, approval for cms_provider_change, data_deletion and
// resource_replacement, content stale after 15m, metrics kept 30 days,
// forecasts not acted on (predict off; announced 72h ahead when turned on).
func DefaultPolicy() PolicySpec {
	critical := true
	return PolicySpec{
		Schedule: Schedule{Interval: Duration(5 * time.Minute), Timezone: "UTC"},
		Confirmation: Confirmation{
			Observations:      2,
			GracePeriod:       Duration(30 * time.Second),
			CriticalImmediate: &critical,
			MaxUnknown:        Duration(10 * time.Minute),
		},
		AutoHeal: AutoHeal{
			Enabled:           false,
			Mode:              "enforce",
			MaxAttempts:       3,
			BackoffStrategy:   "exponential",
			BackoffBase:       Duration(10 * time.Second),
			BackoffCap:        Duration(10 * time.Minute),
			AllowedDriftTypes: []string{"provider_missing", "webhook_broken", "resource_unhealthy"},
			RequireApproval:   []string{"cms_provider_change", "data_deletion", "resource_replacement"},
			Flapping:          Flapping{Threshold: 3, Window: Duration(time.Hour)},
		},
		Content:       ContentPolicy{MaxStaleness: Duration(15 * time.Minute)},
		Observability: Observability{MetricsRetention: Duration(30 * day)},
		Predict:       Predict{NotifyLead: Duration(DefaultNotifyLead)},
	}
}

// EffectivePolicy returns the policy for one stack: the stack's own policy
// if there is one, else the client's, else DefaultPolicy. Fields of the
// chosen policy that are not set (zero numbers, durations and strings, nil
// lists, a nil critical_immediate) are filled from DefaultPolicy; booleans
// such as auto_heal.enabled are taken as written, and an empty list (as
// opposed to a missing one) stays empty. The result shares no memory with
// the arguments. confirmation.observations and grace_period are filled only
// together, when neither is set (see Confirmation).
func EffectivePolicy(stackPolicy, clientPolicy *PolicySpec) PolicySpec {
	def := DefaultPolicy()
	var p PolicySpec
	switch {
	case stackPolicy != nil:
		p = *stackPolicy
	case clientPolicy != nil:
		p = *clientPolicy
	default:
		return def
	}
	fill := func(v, d any) {
		rv := reflect.ValueOf(v).Elem()
		if rv.IsZero() {
			rv.Set(reflect.ValueOf(d))
		}
	}
	fill(&p.Schedule.Interval, def.Schedule.Interval)
	fill(&p.Schedule.Timezone, def.Schedule.Timezone)
	if p.Confirmation.Observations == 0 && p.Confirmation.GracePeriod == 0 {
		// Confirmation is taken as written: the default applies only when
		// neither is set, so {observations: 1} means one pass and no grace
		// period.
		p.Confirmation.Observations = def.Confirmation.Observations
		p.Confirmation.GracePeriod = def.Confirmation.GracePeriod
	}
	fill(&p.Confirmation.MaxUnknown, def.Confirmation.MaxUnknown)
	if p.Confirmation.CriticalImmediate == nil {
		p.Confirmation.CriticalImmediate = def.Confirmation.CriticalImmediate
	} else {
		v := *p.Confirmation.CriticalImmediate
		p.Confirmation.CriticalImmediate = &v
	}
	fill(&p.AutoHeal.Mode, def.AutoHeal.Mode)
	fill(&p.AutoHeal.MaxAttempts, def.AutoHeal.MaxAttempts)
	fill(&p.AutoHeal.BackoffStrategy, def.AutoHeal.BackoffStrategy)
	fill(&p.AutoHeal.BackoffBase, def.AutoHeal.BackoffBase)
	fill(&p.AutoHeal.BackoffCap, def.AutoHeal.BackoffCap)
	fill(&p.AutoHeal.Flapping.Threshold, def.AutoHeal.Flapping.Threshold)
	fill(&p.AutoHeal.Flapping.Window, def.AutoHeal.Flapping.Window)
	if p.AutoHeal.MaintenanceWindows != nil {
		ws := slices.Clone(p.AutoHeal.MaintenanceWindows)
		for i := range ws {
			ws[i].Days = slices.Clone(ws[i].Days)
		}
		p.AutoHeal.MaintenanceWindows = ws
	}
	if p.AutoHeal.AllowedDriftTypes == nil {
		p.AutoHeal.AllowedDriftTypes = def.AutoHeal.AllowedDriftTypes
	} else {
		p.AutoHeal.AllowedDriftTypes = slices.Clone(p.AutoHeal.AllowedDriftTypes)
	}
	if p.AutoHeal.RequireApproval == nil {
		p.AutoHeal.RequireApproval = def.AutoHeal.RequireApproval
	} else {
		p.AutoHeal.RequireApproval = slices.Clone(p.AutoHeal.RequireApproval)
	}
	fill(&p.Content.MaxStaleness, def.Content.MaxStaleness)
	fill(&p.Observability.MetricsRetention, def.Observability.MetricsRetention)
	fill(&p.Predict.NotifyLead, def.Predict.NotifyLead)
	p.Predict.Preempt = slices.Clone(p.Predict.Preempt)
	if p.Notifications.Channels != nil {
		chans := slices.Clone(p.Notifications.Channels)
		for i := range chans {
			chans[i].Addresses = slices.Clone(chans[i].Addresses)
			if chans[i].SMTP != nil {
				smtp := *chans[i].SMTP
				chans[i].SMTP = &smtp
			}
		}
		p.Notifications.Channels = chans
	}
	return p
}

// PolicyFor returns the effective policy of a stack from the config's
// policies: the one for the stack, else the one for its client, else the
// default (see EffectivePolicy).
func (c *Config) PolicyFor(clientID, stackID string) PolicySpec {
	var org *OrganizationSpec
	if c.Organization != nil {
		org = &c.Organization.Spec
	}
	return c.PolicyUnder(org, clientID, stackID)
}

// PolicyUnder is PolicyFor under an OrganizationPolicy (nil: none), as
// ExplainPolicy computes it.
func (c *Config) PolicyUnder(org *OrganizationSpec, clientID, stackID string) PolicySpec {
	var stackPol, clientPol *PolicySpec
	for i := range c.Policies {
		p := &c.Policies[i]
		if p.Metadata.ClientID != clientID {
			continue
		}
		switch p.Metadata.StackID {
		case "":
			clientPol = &p.Spec
		case stackID:
			stackPol = &p.Spec
		}
	}
	return LayeredPolicy(org, clientPol, stackPol)
}

// DecodePolicyJSON decodes and validates a ReconciliationPolicy spec sent as
// JSON (the body of PUT /v1/clients/{client_id}/policy: the spec object of
// the document). Unknown fields, wrong types and every rule of Parse are
// errors, except that a channel ref cannot be checked here. The error is an
// *Errors whose messages start with the JSON path ("auto_heal.max_attempts:
// must be >= 0"), with File "" and the line:column in the body. Secret
// references are kept, not resolved.
func DecodePolicyJSON(data []byte) (*PolicySpec, error) {
	var errs Errors
	if len(bytes.TrimSpace(data)) == 0 {
		errs.add(Error{Message: "the body must be a JSON object (a ReconciliationPolicy spec)"})
		return nil, errs.err()
	}
	var probe any
	if err := json.Unmarshal(data, &probe); err != nil {
		e := Error{Message: "invalid JSON: " + err.Error()}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			e.Line, e.Column = lineColumn(data, se.Offset)
		}
		errs.add(e)
		return nil, errs.err()
	}
	if _, ok := probe.(map[string]any); !ok {
		errs.add(Error{Line: 1, Column: 1, Message: "the body must be a JSON object (a ReconciliationPolicy spec)"})
		return nil, errs.err()
	}
	// JSON is YAML, but YAML does not take tabs for indentation. In valid
	// JSON a tab is only ever whitespace between tokens, so this keeps the
	// meaning and the positions.
	text := bytes.ReplaceAll(data, []byte("\t"), []byte(" "))
	f, err := parseYAML(text)
	if err != nil {
		errs.add(syntaxError("", 0, err))
		return nil, errs.err()
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			body = doc.Body
			break
		}
	}
	var spec PolicySpec
	d := newNodeDecoder("", 0, &errs, body)
	r := newReporter(d)
	d.decode(body, nil, "", reflect.ValueOf(&spec).Elem(), 0)
	spec.resolveSecrets(nil, func(path, msg string) { r.value(path, "%s", msg) })
	r.checkPolicySpec("", &spec)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &spec, nil
}

// lineColumn converts the offset of a json.SyntaxError (the bytes read,
// the offending one included) into the 1-based line and column of the
// offending byte.
func lineColumn(data []byte, offset int64) (int, int) {
	at := int(min(max(offset-1, 0), int64(len(data))))
	before := data[:at]
	line := bytes.Count(before, []byte("\n")) + 1
	col := at - bytes.LastIndexByte(before, '\n')
	return line, col
}
