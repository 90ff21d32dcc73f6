package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// APIVersion is the only apiVersion this build understands.
const APIVersion = "blackwell.io/v1"

// The document kinds of blackwell.yaml.
const (
	KindStack                = "Stack"
	KindReconciliationPolicy = "ReconciliationPolicy"
	KindNotificationChannel  = "NotificationChannel"
	KindPipeline             = "Pipeline"
)

// Config is a whole blackwell.yaml: every document, by kind, in file order.
type Config struct {
	Stacks   []Stack               `json:"stacks"`
	Policies []Policy              `json:"policies"`
	Channels []NotificationChannel `json:"channels"`
	// Pipelines order the environments of applications (application.go).
	Pipelines []Pipeline `json:"pipelines,omitempty"`
	// Organization is the file's OrganizationPolicy, nil when it has none.
	Organization *OrganizationPolicy `json:"organization,omitempty"`
	// Places are where documents and fields were written, for errors
	// found after parsing (compliance rules, exceptions): see Place.
	Places map[string]Place `json:"-"`
}

// Place is a position in a configuration file.
type Place struct {
	File         string
	Line, Column int
}

// Errorf is an Error at the place.
func (p Place) Errorf(format string, args ...any) Error {
	return Error{File: p.File, Line: p.Line, Column: p.Column, Message: fmt.Sprintf(format, args...)}
}

// PlaceKey names a place of Config.Places: the document of a kind and name
// ("Stack", "acme/shop"; "ReconciliationPolicy", "acme" or "acme/shop"),
// or a path of the OrganizationPolicy ("OrganizationPolicy",
// "spec.rules[0].expression").
func PlaceKey(kind, name string) string { return kind + " " + name }

// Where returns the place of key, or a Place of no position.
func (c *Config) Where(key string) Place {
	if c == nil {
		return Place{}
	}
	return c.Places[key]
}

// Stack is a document of kind Stack: one client's composed web stack.
type Stack struct {
	APIVersion string    `json:"apiVersion" yaml:"apiVersion"`
	Kind       string    `json:"kind" yaml:"kind"`
	Metadata   StackMeta `json:"metadata" yaml:"metadata"`
	Spec       StackSpec `json:"spec" yaml:"spec"`
}

// StackMeta identifies a stack.
type StackMeta struct {
	ClientID    string `json:"client_id" yaml:"client_id" jsonschema:"required"`
	StackID     string `json:"stack_id" yaml:"stack_id" jsonschema:"required"`
	Environment string `json:"environment,omitempty" yaml:"environment" jsonschema:"enum=dev,enum=staging,enum=prod"`
	// App names the application the stack is one environment of; empty,
	// the stack id without its environment suffix (AppOf).
	App string `json:"app,omitempty" yaml:"app"`
}

// Key is "client_id/stack_id".
func (m StackMeta) Key() string { return m.ClientID + "/" + m.StackID }

// StackSpec is the declared composition. desired_hash is computed over its
// canonical JSON (see Hash), which holds secret references, never values.
type StackSpec struct {
	// Providers by role: cms, ecommerce, ssg.
	Providers map[string]ProviderBinding `json:"providers,omitempty" yaml:"providers"`
	// Integrations by name: webhook subscriptions at a provider.
	Integrations map[string]Integration `json:"integrations,omitempty" yaml:"integrations"`
	// Resources by name, each checked by a probe.
	Resources map[string]Resource `json:"resources,omitempty" yaml:"resources"`
	// ContentTypes tracked for content drift.
	ContentTypes []string `json:"content_types,omitempty" yaml:"content_types"`
	// Overrides are the paths of this composition that may differ between
	// the environments of its application (OverridePath), for example
	// providers.ecommerce.settings.shop or resources.site.url.
	Overrides []string `json:"overrides,omitempty" yaml:"overrides"`
	// App is metadata.app as written (empty when not written), copied here
	// by Parse so that the stored desired document names its application.
	// It is not a field of spec in YAML.
	App string `json:"app,omitempty" yaml:"-"`
}

// The provider roles.
const (
	RoleCMS       = "cms"
	RoleEcommerce = "ecommerce"
	RoleSSG       = "ssg"
)

// ProviderBinding declares which provider fills a role and how to reach it.
type ProviderBinding struct {
	Name        string            `json:"name" yaml:"name" jsonschema:"required"`
	Settings    map[string]string `json:"settings,omitempty" yaml:"settings"`
	Credentials map[string]Secret `json:"credentials,omitempty" yaml:"credentials"`
	// WebhookSecret is one secret or a list (several active during rotation).
	WebhookSecret SecretList `json:"webhook_secret,omitempty" yaml:"webhook_secret"`
	Build         *Build     `json:"build,omitempty" yaml:"build"`
}

// Build declares how the static site is built.
type Build struct {
	Driver      string   `json:"driver" yaml:"driver" jsonschema:"required,enum=hook,enum=command,enum=codebuild"`
	URL         Secret   `json:"url,omitempty" yaml:"url"`
	Command     []string `json:"command,omitempty" yaml:"command"`
	Timeout     Duration `json:"timeout,omitempty" yaml:"timeout"`
	ProjectName string   `json:"project_name,omitempty" yaml:"project_name"`
	Region      string   `json:"region,omitempty" yaml:"region"`
	Endpoint    string   `json:"endpoint,omitempty" yaml:"endpoint"`
	// Env adds variables to a command build's minimal environment (PATH,
	// HOME, LANG, TMPDIR); values may hold ${VAR} references. Driver
	// command only, so only from the server's own config file.
	Env map[string]Secret `json:"env,omitempty" yaml:"env"`
	// Deploy names the host's deploy API (driver hook only): a rollback
	// makes the deployment a known-good snapshot recorded live again, and
	// a verified pass records which deployment is live.
	Deploy *DeployAPI `json:"deploy,omitempty" yaml:"deploy"`
}

// The hosts of DeployAPI.Host.
const (
	HostNetlify    = "netlify"
	HostVercel     = "vercel"
	HostCloudflare = "cloudflare"
)

// DeployAPI is a static-site host's deploy API: Netlify's sites and
// deploys, Vercel's projects and deployments, Cloudflare Pages' projects
// and deployments.
type DeployAPI struct {
	Host string `json:"host" yaml:"host" jsonschema:"required,enum=netlify,enum=vercel,enum=cloudflare"`
	// Site is the Netlify site id, the Vercel project id or the
	// Cloudflare Pages project name.
	Site string `json:"site" yaml:"site" jsonschema:"required"`
	// Account is the Cloudflare account id (cloudflare only).
	Account string `json:"account,omitempty" yaml:"account"`
	// APIBase replaces the host's API address (a proxy or a fake).
	APIBase string `json:"api_base,omitempty" yaml:"api_base"`
	// Token is the API token (a secret).
	Token Secret `json:"token" yaml:"token" jsonschema:"required"`
}

// Integration is a webhook subscription that a provider must hold.
type Integration struct {
	// Provider is a role from providers.
	Provider string   `json:"provider" yaml:"provider" jsonschema:"required,enum=cms,enum=ecommerce,enum=ssg"`
	Topics   []string `json:"topics,omitempty" yaml:"topics"`
	Filter   string   `json:"filter,omitempty" yaml:"filter"`
}

// The probe kinds.
const (
	ProbeHTTP = "http"
	ProbeTLS  = "tls"
	ProbeTCP  = "tcp"
	ProbeDNS  = "dns"
)

// Resource is an expected resource and the probe that checks it.
type Resource struct {
	Probe string `json:"probe" yaml:"probe" jsonschema:"required,enum=http,enum=tls,enum=tcp,enum=dns"`
	// http
	URL          string `json:"url,omitempty" yaml:"url"`
	ExpectStatus int    `json:"expect_status,omitempty" yaml:"expect_status" jsonschema:"minimum=100,maximum=599"`
	BodyMatch    string `json:"body_match,omitempty" yaml:"body_match"`
	// MaxLatency bounds the answer time of an http probe; slower is unhealthy.
	MaxLatency Duration `json:"max_latency,omitempty" yaml:"max_latency"`
	// tls, tcp: host:port
	Address      string `json:"address,omitempty" yaml:"address"`
	MinDaysValid int    `json:"min_days_valid,omitempty" yaml:"min_days_valid" jsonschema:"minimum=0"`
	// dns
	Name string `json:"name,omitempty" yaml:"name"`
	// all probes
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout"`
}

// Policy is a document of kind ReconciliationPolicy.
type Policy struct {
	APIVersion string     `json:"apiVersion" yaml:"apiVersion"`
	Kind       string     `json:"kind" yaml:"kind"`
	Metadata   PolicyMeta `json:"metadata" yaml:"metadata"`
	Spec       PolicySpec `json:"spec" yaml:"spec"`
}

// PolicyMeta scopes a policy to a client, or to one stack of it.
type PolicyMeta struct {
	ClientID string `json:"client_id" yaml:"client_id" jsonschema:"required"`
	// StackID is empty for a policy that applies to every stack of the client.
	StackID string `json:"stack_id,omitempty" yaml:"stack_id"`
}

// PolicySpec is the spec's ReconciliationPolicy, every field, plus
// confirmation and content staleness.
type PolicySpec struct {
	Schedule      Schedule      `json:"schedule" yaml:"schedule"`
	Confirmation  Confirmation  `json:"confirmation" yaml:"confirmation"`
	AutoHeal      AutoHeal      `json:"auto_heal" yaml:"auto_heal"`
	Content       ContentPolicy `json:"content" yaml:"content"`
	Notifications Notifications `json:"notifications" yaml:"notifications"`
	Observability Observability `json:"observability" yaml:"observability"`
	// Events says what the event mirror keeps of webhook deliveries.
	Events EventsPolicy `json:"events,omitzero" yaml:"events"`
	// Predict says what is done about forecasts of drift.
	Predict Predict `json:"predict,omitzero" yaml:"predict"`
	// Rollback says what a rollback of the stack may do.
	Rollback RollbackPolicy `json:"rollback,omitzero" yaml:"rollback"`
}

// RollbackPolicy says what a rollback may do.
type RollbackPolicy struct {
	// ForbidHold refuses a rollback with --hold: the stack may be rolled
	// back, but never pinned (a config applied later always wins).
	ForbidHold bool `json:"forbid_hold,omitempty" yaml:"forbid_hold"`
}

// Predict says what is done about forecasts of drift (internal/forecast).
// Forecasts are computed and listed whatever it says; Enabled turns on
// acting on them: announcing them through the policy's notification
// channels once their eta is within NotifyLead, and running the heal
// actions listed in Preempt before the drift begins.
type Predict struct {
	Enabled bool `json:"enabled" yaml:"enabled"`
	// NotifyLead: a forecast is announced once its eta is at most this
	// far ahead (default 72h).
	NotifyLead Duration `json:"notify_lead,omitempty" yaml:"notify_lead"`
	// Preempt lists the heal actions that may run before onset:
	// reregister_subscription (a webhook_broken forecast: the subscription
	// is replaced by a fresh one, which a provider that deletes
	// subscriptions after failed deliveries counts from zero) and rebuild
	// (a content_stale forecast). They run under auto_heal like any heal.
	Preempt []string `json:"preempt,omitempty" yaml:"preempt"`
}

// The heal actions predict.preempt may list, and the forecast code each
// acts on.
const (
	PreemptReregisterSubscription = "reregister_subscription"
	PreemptRebuild                = "rebuild"
)

// DefaultNotifyLead is predict.notify_lead when unset.
const DefaultNotifyLead = 72 * time.Hour

// PreemptActions lists the values predict.preempt takes.
func PreemptActions() []string { return []string{PreemptReregisterSubscription, PreemptRebuild} }

// EventsPolicy says what the stored event of a webhook delivery keeps of
// its body: minimal (the ids, handles, status, timestamps and versions
// drift and content detection use), full (the body as delivered) or none.
// Unset, each provider decides per topic: minimal for Shopify orders/*,
// customers/*, checkouts/* and the privacy topics, full elsewhere
// (docs/DATA.md). Shopify's privacy topics are never kept in full.
type EventsPolicy struct {
	Payload string `json:"payload,omitempty" yaml:"payload" jsonschema:"enum=minimal,enum=full,enum=none"`
	// Retention is how long the client's events are kept (the sweeper
	// deletes them after); unset, the server's --event-retention (30 days).
	// A delivery that concerns stacks of several policies is kept for the
	// shortest.
	Retention Duration `json:"retention,omitempty" yaml:"retention"`
}

// Schedule sets the interval of the scheduled pass (jittered).
type Schedule struct {
	Interval Duration `json:"interval,omitempty" yaml:"interval"`
	Timezone string   `json:"timezone,omitempty" yaml:"timezone"`
}

// Confirmation says how long drift must persist before it is reported:
// seen in at least Observations passes AND for GracePeriod since first seen
// (both). A stack's first pass confirms nothing. When neither Observations
// nor GracePeriod is set, the default (2 passes and 30s) applies; otherwise
// they are taken as written (observations 0 is 1, grace_period 0 none).
type Confirmation struct {
	// Observations: passes that must see the drift.
	Observations int `json:"observations,omitempty" yaml:"observations" jsonschema:"minimum=0"`
	// GracePeriod: and this long since first seen (0: observations alone).
	GracePeriod Duration `json:"grace_period,omitempty" yaml:"grace_period"`
	// CriticalImmediate reports critical drift at once when the provider
	// answered it authoritatively (default true); never on inference.
	CriticalImmediate *bool `json:"critical_immediate,omitempty" yaml:"critical_immediate"`
	// MaxUnknown is how long a provider's API may stay unknown
	// (unreachable, timing out, throttled, breaker open) before it is
	// reported as provider_unreachable (default 10m).
	MaxUnknown Duration `json:"max_unknown,omitempty" yaml:"max_unknown"`
}

// AutoHeal is the spec's auto_heal block.
type AutoHeal struct {
	Enabled         bool     `json:"enabled" yaml:"enabled"`
	Mode            string   `json:"mode,omitempty" yaml:"mode" jsonschema:"enum=enforce,enum=dry_run"`
	MaxAttempts     int      `json:"max_attempts,omitempty" yaml:"max_attempts" jsonschema:"minimum=0"`
	BackoffStrategy string   `json:"backoff_strategy,omitempty" yaml:"backoff_strategy" jsonschema:"enum=linear,enum=exponential"`
	BackoffBase     Duration `json:"backoff_base,omitempty" yaml:"backoff_base"`
	BackoffCap      Duration `json:"backoff_cap,omitempty" yaml:"backoff_cap"`
	// AllowedDriftTypes and RequireApproval keep an empty list through JSON
	// (no omitempty): empty means "none", missing means "the default".
	AllowedDriftTypes []string `json:"allowed_drift_types" yaml:"allowed_drift_types"`
	RequireApproval   []string `json:"require_approval" yaml:"require_approval"`
	// Flapping stops auto-healing of a component whose drift clears and
	// returns more than Threshold times within Window; it then needs approval.
	Flapping Flapping `json:"flapping" yaml:"flapping"`
	// MaintenanceWindows are weekly windows in schedule.timezone during which
	// no heal runs (drift is still detected and reported).
	MaintenanceWindows []MaintenanceWindow `json:"maintenance_windows,omitempty" yaml:"maintenance_windows"`
}

// Flapping bounds how often a drift may clear and return before healing it
// needs a person.
type Flapping struct {
	Threshold int      `json:"threshold,omitempty" yaml:"threshold"`
	Window    Duration `json:"window,omitempty" yaml:"window"`
}

// MaintenanceWindow is a weekly window: on each of Days (mon..sun), from
// Start ("HH:MM") for Duration.
type MaintenanceWindow struct {
	Days     []string `json:"days" yaml:"days"`
	Start    string   `json:"start" yaml:"start" jsonschema:"pattern=^([01][0-9]|2[0-3]):[0-5][0-9]$"`
	Duration Duration `json:"duration" yaml:"duration"`
}

// ContentPolicy bounds how far the site may lag the CMS.
type ContentPolicy struct {
	MaxStaleness Duration `json:"max_staleness,omitempty" yaml:"max_staleness"`
}

// Notifications lists where drift is announced.
type Notifications struct {
	Channels []ChannelSpec `json:"channels,omitempty" yaml:"channels"`
}

// Observability is the spec's observability block.
type Observability struct {
	// MetricsRetention is the spec's field, kept for its documents: the
	// metrics Blackwell exposes are kept by whoever scrapes /metrics, not
	// by Blackwell, so nothing enforces it. See HistoryRetention.
	MetricsRetention Duration `json:"metrics_retention,omitempty" yaml:"metrics_retention"`
	// HistoryRetention is how long the reconciliation results of the
	// client (or, in a stack's policy, of the stack) are kept; the sweeper
	// deletes older ones. Unset, the server's --history-retention (7 days).
	HistoryRetention    Duration `json:"history_retention,omitempty" yaml:"history_retention"`
	DetailedLogging     bool     `json:"detailed_logging" yaml:"detailed_logging"`
	PerformanceTracking bool     `json:"performance_tracking" yaml:"performance_tracking"`
}

// NotificationChannel is a document of kind NotificationChannel: a named
// channel that policies refer to with ref.
type NotificationChannel struct {
	APIVersion string      `json:"apiVersion" yaml:"apiVersion"`
	Kind       string      `json:"kind" yaml:"kind"`
	Metadata   ChannelMeta `json:"metadata" yaml:"metadata"`
	Spec       ChannelSpec `json:"spec" yaml:"spec"`
}

// ChannelMeta names a channel.
type ChannelMeta struct {
	Name string `json:"name" yaml:"name" jsonschema:"required"`
}

// ChannelSpec is a notification channel, inline in a policy or named.
type ChannelSpec struct {
	// Ref names a NotificationChannel instead of declaring one inline.
	Ref               string   `json:"ref,omitempty" yaml:"ref"`
	Type              string   `json:"type,omitempty" yaml:"type" jsonschema:"enum=slack,enum=email,enum=pagerduty,enum=webhook,enum=nats,enum=sns"`
	SeverityThreshold string   `json:"severity_threshold,omitempty" yaml:"severity_threshold" jsonschema:"enum=low,enum=medium,enum=high,enum=critical"`
	WebhookURL        Secret   `json:"webhook_url,omitempty" yaml:"webhook_url"`
	Addresses         []string `json:"addresses,omitempty" yaml:"addresses"`
	RoutingKey        Secret   `json:"routing_key,omitempty" yaml:"routing_key"`
	URL               string   `json:"url,omitempty" yaml:"url"`
	Secret            Secret   `json:"secret,omitempty" yaml:"secret"`
	Subject           string   `json:"subject,omitempty" yaml:"subject"`
	SMTP              *SMTP    `json:"smtp,omitempty" yaml:"smtp"`
	// TopicARN, Region and Endpoint are an sns channel's topic
	// (arn:aws:sns:REGION:ACCOUNT:NAME), its region when the ARN names
	// none, and an endpoint other than sns.REGION.amazonaws.com.
	TopicARN string `json:"topic_arn,omitempty" yaml:"topic_arn"`
	Region   string `json:"region,omitempty" yaml:"region"`
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint"`
	// AccessKeyID, SecretAccessKey and SessionToken are an sns channel's
	// credentials as ${VAR} references; without them the AWS SDK's
	// default chain (environment, shared files, SSO, container and
	// instance roles) provides them.
	AccessKeyID     Secret `json:"access_key_id,omitzero" yaml:"access_key_id"`
	SecretAccessKey Secret `json:"secret_access_key,omitzero" yaml:"secret_access_key"`
	SessionToken    Secret `json:"session_token,omitzero" yaml:"session_token"`
}

// SMTP settings of an email channel.
type SMTP struct {
	Host     string `json:"host" yaml:"host" jsonschema:"required"`
	Port     int    `json:"port,omitempty" yaml:"port" jsonschema:"minimum=0,maximum=65535"`
	Username string `json:"username,omitempty" yaml:"username"`
	Password Secret `json:"password,omitempty" yaml:"password"`
	From     string `json:"from,omitempty" yaml:"from"`
}

// Duration is a time.Duration written as "30s", "5m", "2h" or "30d".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Secret is a string that may hold ${VAR} references. Its JSON form is the
// reference as written; the resolved value is only reachable through Value.
type Secret struct {
	Ref string
	// value is nil until resolved. It is behind a pointer so that fmt, which
	// prints nested pointers as addresses, never shows it, even where it
	// cannot call Secret's Format (a bad verb on an enclosing struct).
	value *secretValue
}

type secretValue struct{ s string }

// Value is the secret with ${VAR} references resolved ("" if unresolved).
func (s Secret) Value() string {
	if s.value == nil {
		return ""
	}
	return s.value.s
}

// IsZero reports whether no secret was given.
func (s Secret) IsZero() bool { return s.Ref == "" }

// MarshalJSON writes the reference, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.Ref) }

// SecretList is one secret or a list of them.
type SecretList []Secret

// Retention is how long a stack's events and reconciliation results are
// kept.
type Retention struct {
	Events  time.Duration
	History time.Duration
}

// RetentionOf is the retention a stack's effective policy sets (its own
// policy, else its client's, as passes and webhook bindings choose:
// EffectivePolicy), each unset field taken from def (the server's
// --event-retention and --history-retention). p is nil without a policy.
func RetentionOf(p *PolicySpec, def Retention) Retention {
	r := def
	if p == nil {
		return r
	}
	if d := p.Events.Retention.D(); d > 0 {
		r.Events = d
	}
	if d := p.Observability.HistoryRetention.D(); d > 0 {
		r.History = d
	}
	return r
}
