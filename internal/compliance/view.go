package compliance

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// The variables a rule reads are these views, not the config types
// themselves: they hold what a rule may judge (secret references are
// described, never shown) in CEL's own types (durations are durations).
// Field names are their JSON tags.

// StackView is the variable stack: a stack's desired state.
type StackView struct {
	ClientID     string                     `json:"client_id"`
	StackID      string                     `json:"stack_id"`
	Environment  string                     `json:"environment"`
	Providers    map[string]ProviderView    `json:"providers"`
	Integrations map[string]IntegrationView `json:"integrations"`
	Resources    map[string]ResourceView    `json:"resources"`
	ContentTypes []string                   `json:"content_types"`
}

// ProviderView is a provider binding of a role.
type ProviderView struct {
	Name           string                `json:"name"`
	Settings       map[string]string     `json:"settings"`
	WebhookSecrets []SecretView          `json:"webhook_secrets"`
	Credentials    map[string]SecretView `json:"credentials"`
	// BuildDriver is the ssg's build driver (hook, command, codebuild), or
	// "".
	BuildDriver string `json:"build_driver"`
}

// SecretView describes a secret without its value.
type SecretView struct {
	// EnvReference: the secret is written only as ${VAR} references, no
	// literal text.
	EnvReference bool `json:"env_reference"`
}

// IntegrationView is a webhook subscription.
type IntegrationView struct {
	Provider string   `json:"provider"`
	Topics   []string `json:"topics"`
	Filter   string   `json:"filter"`
}

// ResourceView is an expected resource and its probe.
type ResourceView struct {
	Probe        string `json:"probe"`
	URL          string `json:"url"`
	Address      string `json:"address"`
	Name         string `json:"name"`
	ExpectStatus int    `json:"expect_status"`
	MinDaysValid int    `json:"min_days_valid"`
}

// PolicyView is the variable policy: the stack's effective policy.
type PolicyView struct {
	Schedule      ScheduleView      `json:"schedule"`
	Confirmation  ConfirmationView  `json:"confirmation"`
	AutoHeal      AutoHealView      `json:"auto_heal"`
	Content       ContentView       `json:"content"`
	Notifications NotificationsView `json:"notifications"`
	Events        EventsView        `json:"events"`
	Observability ObservabilityView `json:"observability"`
}

// ScheduleView is policy.schedule.
type ScheduleView struct {
	Interval time.Duration `json:"interval"`
	Timezone string        `json:"timezone"`
}

// ConfirmationView is policy.confirmation.
type ConfirmationView struct {
	Observations      int           `json:"observations"`
	GracePeriod       time.Duration `json:"grace_period"`
	CriticalImmediate bool          `json:"critical_immediate"`
	MaxUnknown        time.Duration `json:"max_unknown"`
}

// AutoHealView is policy.auto_heal.
type AutoHealView struct {
	Enabled            bool          `json:"enabled"`
	Mode               string        `json:"mode"`
	MaxAttempts        int           `json:"max_attempts"`
	BackoffStrategy    string        `json:"backoff_strategy"`
	BackoffBase        time.Duration `json:"backoff_base"`
	BackoffCap         time.Duration `json:"backoff_cap"`
	AllowedDriftTypes  []string      `json:"allowed_drift_types"`
	RequireApproval    []string      `json:"require_approval"`
	MaintenanceWindows int           `json:"maintenance_windows"`
}

// ContentView is policy.content.
type ContentView struct {
	MaxStaleness time.Duration `json:"max_staleness"`
}

// NotificationsView is policy.notifications.
type NotificationsView struct {
	Channels []ChannelView `json:"channels"`
}

// ChannelView is a notification channel of a policy.
type ChannelView struct {
	Type              string `json:"type"`
	Ref               string `json:"ref"`
	SeverityThreshold string `json:"severity_threshold"`
}

// EventsView is policy.events.
type EventsView struct {
	Payload   string        `json:"payload"`
	Retention time.Duration `json:"retention"`
}

// ObservabilityView is policy.observability.
type ObservabilityView struct {
	HistoryRetention time.Duration `json:"history_retention"`
	DetailedLogging  bool          `json:"detailed_logging"`
}

// ObservedView is the variable observed: what the last pass saw. A stack
// no pass has observed has none, and a rule that reads it is unknown.
type ObservedView struct {
	// Status is the stack's status after the pass (healthy,
	// drift_detected, error).
	Status string `json:"status"`
	// OpenDrifts are the codes of the stack's open drifts, sorted.
	OpenDrifts []string `json:"open_drifts"`
	// Resources are the probes' statuses by resource name (healthy,
	// unhealthy, missing, unknown).
	Resources map[string]string `json:"resources"`
}

// StackOf is the view of a stack's desired state, in maps of its own.
func StackOf(meta config.StackMeta, spec config.StackSpec) StackView {
	var b StackBuffer
	return b.StackOf(meta, spec)
}

// StackBuffer builds stack views into maps it keeps from one view to the
// next, for a caller that builds views of stack after stack and drops
// each one before building the next (the recorder: a view lives for one
// evaluation, which keeps nothing of it). The zero StackBuffer is ready.
type StackBuffer struct {
	v       StackView
	creds   []map[string]SecretView
	secrets [][]SecretView
}

// maxReused is the size above which a map is left to the collector
// rather than cleared and reused (clearing costs its capacity).
const maxReused = 64

// StackOf is StackOf(meta, spec), equal to it, in maps of the buffer's:
// valid until the next call, which reuses them.
func (b *StackBuffer) StackOf(meta config.StackMeta, spec config.StackSpec) StackView {
	for _, p := range b.v.Providers {
		if p.Credentials != nil && len(p.Credentials) <= maxReused {
			clear(p.Credentials)
			b.creds = append(b.creds, p.Credentials)
		}
		if cap(p.WebhookSecrets) > 0 && cap(p.WebhookSecrets) <= maxReused {
			b.secrets = append(b.secrets, p.WebhookSecrets[:0])
		}
	}
	v := StackView{ClientID: meta.ClientID, StackID: meta.StackID, Environment: meta.Environment, ContentTypes: spec.ContentTypes,
		Providers:    reuse(b.v.Providers, len(spec.Providers)),
		Integrations: reuse(b.v.Integrations, len(spec.Integrations)),
		Resources:    reuse(b.v.Resources, len(spec.Resources)),
	}
	for role, pb := range spec.Providers {
		var creds map[string]SecretView
		if n := len(b.creds); n > 0 {
			creds, b.creds = b.creds[n-1], b.creds[:n-1]
		} else {
			creds = make(map[string]SecretView, len(pb.Credentials))
		}
		p := ProviderView{Name: pb.Name, Settings: pb.Settings, Credentials: creds}
		if len(pb.WebhookSecret) > 0 {
			if n := len(b.secrets); n > 0 {
				p.WebhookSecrets, b.secrets = b.secrets[n-1], b.secrets[:n-1]
			}
			for _, s := range pb.WebhookSecret {
				p.WebhookSecrets = append(p.WebhookSecrets, secretOf(s))
			}
		}
		for k, s := range pb.Credentials {
			creds[k] = secretOf(s)
		}
		if pb.Build != nil {
			p.BuildDriver = pb.Build.Driver
		}
		v.Providers[role] = p
	}
	for name, in := range spec.Integrations {
		v.Integrations[name] = IntegrationView{Provider: in.Provider, Topics: in.Topics, Filter: in.Filter}
	}
	for name, r := range spec.Resources {
		v.Resources[name] = ResourceView{Probe: r.Probe, URL: r.URL, Address: r.Address, Name: r.Name,
			ExpectStatus: r.ExpectStatus, MinDaysValid: r.MinDaysValid}
	}
	b.v = v
	return v
}

// reuse is m cleared, or a new map for n entries when m is nil or large.
func reuse[V any](m map[string]V, n int) map[string]V {
	if m == nil || len(m) > maxReused {
		return make(map[string]V, n)
	}
	clear(m)
	return m
}

// secretOf describes a secret: a reference only when every character is
// inside a ${VAR}.
func secretOf(s config.Secret) SecretView {
	ref := s.Ref
	for ref != "" {
		if !strings.HasPrefix(ref, "${") {
			return SecretView{}
		}
		end := strings.IndexByte(ref, '}')
		if end < 0 {
			return SecretView{}
		}
		ref = ref[end+1:]
	}
	return SecretView{EnvReference: s.Ref != ""}
}

// PolicyOf is the view of an effective policy.
func PolicyOf(p config.PolicySpec) PolicyView {
	ah := p.AutoHeal
	v := PolicyView{
		Schedule: ScheduleView{Interval: p.Schedule.Interval.D(), Timezone: p.Schedule.Timezone},
		Confirmation: ConfirmationView{Observations: p.Confirmation.Observations, GracePeriod: p.Confirmation.GracePeriod.D(),
			CriticalImmediate: p.Confirmation.CriticalImmediate != nil && *p.Confirmation.CriticalImmediate,
			MaxUnknown:        p.Confirmation.MaxUnknown.D()},
		AutoHeal: AutoHealView{Enabled: ah.Enabled, Mode: ah.Mode, MaxAttempts: ah.MaxAttempts, BackoffStrategy: ah.BackoffStrategy,
			BackoffBase: ah.BackoffBase.D(), BackoffCap: ah.BackoffCap.D(), AllowedDriftTypes: ah.AllowedDriftTypes,
			RequireApproval: ah.RequireApproval, MaintenanceWindows: len(ah.MaintenanceWindows)},
		Content:       ContentView{MaxStaleness: p.Content.MaxStaleness.D()},
		Events:        EventsView{Payload: p.Events.Payload, Retention: p.Events.Retention.D()},
		Observability: ObservabilityView{HistoryRetention: p.Observability.HistoryRetention.D(), DetailedLogging: p.Observability.DetailedLogging},
	}
	for _, c := range p.Notifications.Channels {
		v.Notifications.Channels = append(v.Notifications.Channels, ChannelView{Type: c.Type, Ref: c.Ref, SeverityThreshold: c.SeverityThreshold})
	}
	return v
}

// ObservedOf is the view of a pass's observation and the stack's open
// drifts after it.
func ObservedOf(status string, obs drift.Observed, open []drift.Drift) ObservedView {
	v := ObservedView{Status: status, OpenDrifts: make([]string, 0, len(open)), Resources: make(map[string]string, len(obs.Resources))}
	for _, d := range open {
		v.OpenDrifts = append(v.OpenDrifts, string(d.Code))
	}
	slices.Sort(v.OpenDrifts) // the order Key gives them: equal keys, equal views
	for name, r := range obs.Resources {
		s := string(r.Status)
		if s == "" {
			s = string(drift.StatusUnknown)
		}
		v.Resources[name] = s
	}
	return v
}

// Key identifies the observation for Input.ObservedKey: the status, the
// open drifts' codes and each resource's status, in a stable order. Two
// views of ObservedOf with the same key are equal.
func (v ObservedView) Key() string {
	n := len(v.Status)
	for _, d := range v.OpenDrifts {
		n += 2 + len(d)
	}
	for name, s := range v.Resources {
		n += 3 + len(name) + len(s)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(v.Status)
	drifts := v.OpenDrifts
	if !slices.IsSorted(drifts) { // ObservedOf's are
		drifts = slices.Sorted(slices.Values(drifts))
	}
	for _, d := range drifts {
		b.WriteString("\x00d")
		b.WriteString(d)
	}
	var scratch [16]string
	keys := scratch[:0]
	for name := range v.Resources {
		keys = append(keys, name)
	}
	slices.Sort(keys)
	for _, name := range keys {
		b.WriteString("\x00r")
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(v.Resources[name])
	}
	return b.String()
}

// appendKey appends to b an encoding of every field of the policy: equal
// for equal views, different for different ones (strings and lists are
// length-prefixed). A field added to PolicyView must be added here
// (TestPolicyKeyCoversEveryField).
func (v PolicyView) appendKey(b []byte) []byte {
	b = keyNum(b, int64(v.Schedule.Interval))
	b = keyStr(b, v.Schedule.Timezone)
	b = keyNum(b, int64(v.Confirmation.Observations))
	b = keyNum(b, int64(v.Confirmation.GracePeriod))
	b = keyBool(b, v.Confirmation.CriticalImmediate)
	b = keyNum(b, int64(v.Confirmation.MaxUnknown))
	ah := &v.AutoHeal
	b = keyBool(b, ah.Enabled)
	b = keyStr(b, ah.Mode)
	b = keyNum(b, int64(ah.MaxAttempts))
	b = keyStr(b, ah.BackoffStrategy)
	b = keyNum(b, int64(ah.BackoffBase))
	b = keyNum(b, int64(ah.BackoffCap))
	b = keyList(b, ah.AllowedDriftTypes)
	b = keyList(b, ah.RequireApproval)
	b = keyNum(b, int64(ah.MaintenanceWindows))
	b = keyNum(b, int64(v.Content.MaxStaleness))
	b = keyNum(b, int64(len(v.Notifications.Channels)))
	for _, c := range v.Notifications.Channels {
		b = keyStr(b, c.Type)
		b = keyStr(b, c.Ref)
		b = keyStr(b, c.SeverityThreshold)
	}
	b = keyStr(b, v.Events.Payload)
	b = keyNum(b, int64(v.Events.Retention))
	b = keyNum(b, int64(v.Observability.HistoryRetention))
	return keyBool(b, v.Observability.DetailedLogging)
}

// The parts of a key: a number ends with ';', a string is prefixed with
// its length and ':', a list with its length.

func keyNum(b []byte, n int64) []byte {
	b = strconv.AppendInt(b, n, 10)
	return append(b, ';')
}

func keyStr(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func keyBool(b []byte, f bool) []byte {
	if f {
		return append(b, 't')
	}
	return append(b, 'f')
}

func keyList(b []byte, l []string) []byte {
	b = keyNum(b, int64(len(l)))
	for _, s := range l {
		b = keyStr(b, s)
	}
	return b
}

// appendKey appends to b an encoding of every field of the stack view,
// maps in the order of their keys: equal for equal views, different for
// different ones. It is the projection on every field (appendProjected);
// a field added to StackView or the views it holds must be added there
// (TestStackKeyCoversEveryField). keys is scratch space for the maps'
// keys.
func (v StackView) appendKey(b []byte, keys *[]string) []byte {
	return v.appendProjected(b, ^fieldMask(0), keys)
}
