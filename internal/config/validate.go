package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezone names validate on hosts without a zoneinfo database

	"github.com/goccy/go-yaml/ast"
)

// The names this package checks against. The drift codes and severities are
// those of internal/drift (which imports config, so they are repeated here).
func driftCodes() []string {
	return []string{
		"provider_missing", "provider_changed", "webhook_broken", "integration_mismatch",
		"resource_unhealthy", "resource_missing", "content_stale", "config_pending",
		"provider_unauthorized", "provider_unreachable", "environment_divergence",
	}
}

func severities() []string { return []string{"low", "medium", "high", "critical"} }

func roles() []string { return []string{RoleCMS, RoleEcommerce, RoleSSG} }

// approvalClasses are the values of require_approval.
func approvalClasses() []string {
	out := []string{"data_deletion", "resource_replacement"}
	for _, r := range roles() {
		out = append(out, r+"_provider_change")
	}
	// preempt: every heal run ahead of a forecast (predict.preempt).
	return append(out, "preempt")
}

func environments() []string { return []string{"dev", "staging", "prod"} }

func probeKinds() []string { return []string{ProbeHTTP, ProbeTLS, ProbeTCP, ProbeDNS} }

func buildDrivers() []string { return []string{"hook", "command", "codebuild"} }

func channelTypes() []string {
	return []string{"slack", "email", "pagerduty", "webhook", "nats", "sns"}
}

// IDPattern is the syntax of client, stack, channel, integration, resource
// and provider names, wherever they arrive (config, API paths, tokens).
// The published schema takes it from here (refineSchema).
const IDPattern = `^[a-z0-9][a-z0-9._-]{0,62}$`

// idSyntax is IDPattern compiled once: a config of 100,000 stacks has as
// many documents, and compiling it per document cost half of all that
// parsing allocated.
var idSyntax = regexp.MustCompile(IDPattern)

// ValidID says whether s is a valid client, stack, channel or other name
// (IDPattern).
func ValidID(s string) bool { return idSyntax.MatchString(s) }

// awsRegion is the syntax of an AWS region name.
var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// oneOf formats a list of allowed values for a message.
func oneOf(values []string) string {
	switch len(values) {
	case 0:
		return ""
	case 1:
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// reporter records a problem at the position of a path of a document. A
// path that was not in the document (a missing field) is reported at its
// nearest ancestor that was.
type reporter struct {
	d *nodeDecoder
}

func newReporter(d *nodeDecoder) reporter {
	return reporter{d: d}
}

// parentPath strips the last ".key" or "[i]" of a path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func (r reporter) node(path string, onKey bool) ast.Node {
	if ref, ok := r.d.index[path]; ok {
		if onKey && ref.key != nil {
			return ref.key
		}
		if ref.value != nil {
			return ref.value
		}
		return ref.key
	}
	for p := path; p != ""; {
		p = parentPath(p)
		if ref, ok := r.d.index[p]; ok {
			if ref.key != nil {
				return ref.key
			}
			return ref.value
		}
	}
	return nil
}

// value reports a problem with the value at path, unless decoding it
// failed already.
func (r reporter) value(path, format string, args ...any) {
	if !r.d.hasFailed(path) {
		r.d.errorf(r.node(path, false), path, format, args...)
	}
}

// key reports a problem with the key at path (a name, or a field that
// should not be there), unless decoding it failed already.
func (r reporter) key(path, format string, args ...any) {
	if !r.d.hasFailed(path) {
		r.d.errorf(r.node(path, true), path, format, args...)
	}
}

// has reports whether path was written in the document.
func (r reporter) has(path string) bool {
	_, ok := r.d.index[path]
	return ok
}

func (r reporter) checkID(path, v string, required bool) {
	switch {
	case v == "" && required:
		r.value(path, "is required")
	case v != "" && !idSyntax.MatchString(v):
		r.value(path, "%q is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)", v)
	}
}

func (r reporter) checkEnum(path, v string, allowed []string, required bool) {
	switch {
	case v == "" && required:
		r.value(path, "is required (one of %s)", oneOf(allowed))
	case v != "" && !slices.Contains(allowed, v):
		r.value(path, "unknown value %q (want %s)", v, oneOf(allowed))
	}
}

func (r reporter) checkNonNegative(path string, v int) {
	if v < 0 {
		r.value(path, "must be >= 0")
	}
}

// checkList checks a list of names against allowed values and duplicates.
func (r reporter) checkList(path string, list, allowed []string) {
	seen := map[string]bool{}
	for i, v := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case allowed != nil && !slices.Contains(allowed, v):
			r.value(p, "unknown value %q (want %s)", v, oneOf(allowed))
		case allowed == nil && strings.TrimSpace(v) == "":
			r.value(p, "must not be empty")
		case seen[v]:
			r.value(p, "%q is listed twice", v)
		}
		seen[v] = true
	}
}

// notAllowed reports each of the named fields that is set.
func (r reporter) notAllowed(base, why string, fields map[string]bool) {
	for _, name := range sortedKeys(fields) {
		if fields[name] {
			r.key(joinPath(base, name), "not allowed %s", why)
		}
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (r reporter) checkHTTPURL(path, v string) {
	if !isHTTPURL(v) {
		r.value(path, "%q is not an http or https URL", v)
	}
}

// checkSecretURL checks a resolved secret URL without printing it.
func (r reporter) checkSecretURL(path string, s Secret) {
	if s.Resolved() && s.Ref != "" && !isHTTPURL(s.Value()) {
		r.value(path, "must be an http or https URL")
	}
}

func (r reporter) checkHostPort(path, v string) {
	if v == "" {
		r.value(path, "is required (host:port)")
		return
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		r.value(path, "%q is not host:port", v)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		r.value(path, "%q has no valid port (want 1-65535)", v)
	}
}

func validHostname(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkStack validates one Stack document.
func (r reporter) checkStack(s *Stack) {
	r.checkID("metadata.client_id", s.Metadata.ClientID, true)
	r.checkID("metadata.stack_id", s.Metadata.StackID, true)
	r.checkEnum("metadata.environment", s.Metadata.Environment, environments(), false)
	r.checkID("metadata.app", s.Metadata.App, false)
	r.checkStackSpec("spec", &s.Spec)
	r.checkOverrides("spec", &s.Spec)
}

func (r reporter) checkStackSpec(base string, s *StackSpec) {
	for _, role := range sortedKeys(s.Providers) {
		p := joinPath(base, "providers."+role)
		if !slices.Contains(roles(), role) {
			r.key(p, "unknown role %q (want %s)", role, oneOf(roles()))
		}
		r.checkBinding(p, role, s.Providers[role])
	}
	for _, name := range sortedKeys(s.Integrations) {
		p := joinPath(base, "integrations."+name)
		in := s.Integrations[name]
		r.checkKeyID(p, name)
		switch {
		case in.Provider == "":
			r.value(p+".provider", "is required (a role from providers: %s)", oneOf(roles()))
		case !slices.Contains(roles(), in.Provider):
			r.value(p+".provider", "unknown role %q (want %s)", in.Provider, oneOf(roles()))
		default:
			if _, ok := s.Providers[in.Provider]; !ok {
				r.value(p+".provider", "role %q is not declared in providers", in.Provider)
			}
		}
		r.checkList(p+".topics", in.Topics, nil)
	}
	for _, name := range sortedKeys(s.Resources) {
		p := joinPath(base, "resources."+name)
		r.checkKeyID(p, name)
		r.checkResource(p, s.Resources[name])
	}
	r.checkList(joinPath(base, "content_types"), s.ContentTypes, nil)
}

// checkKeyID checks a name given as a mapping key.
func (r reporter) checkKeyID(path, name string) {
	if !idSyntax.MatchString(name) {
		r.key(path, "%q is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)", name)
	}
}

func (r reporter) checkBinding(p, role string, b ProviderBinding) {
	r.checkID(p+".name", b.Name, true)
	for _, k := range sortedKeys(b.Settings) {
		switch k {
		case "api_base", "integration_api":
			r.checkHTTPURL(p+".settings."+k, b.Settings[k])
		case SettingTokenExpiresAt:
			if _, err := parseExpiry(b.Settings[k]); err != nil {
				r.value(p+".settings."+k, "%s", err)
			}
		}
	}
	for _, k := range sortedKeys(b.Credentials) {
		if b.Credentials[k].Ref == "" {
			r.value(p+".credentials."+k, "must not be empty")
		}
	}
	for i, s := range b.WebhookSecret {
		if s.Ref == "" {
			path := p + ".webhook_secret"
			if r.has(fmt.Sprintf("%s[%d]", path, i)) {
				path = fmt.Sprintf("%s[%d]", path, i)
			}
			r.value(path, "must not be empty")
		}
	}
	if b.Build == nil {
		return
	}
	bp := p + ".build"
	if role != RoleSSG {
		r.key(bp, "only the %s role builds (build is not allowed for %s)", RoleSSG, role)
	}
	r.checkBuild(bp, b.Build)
}

func (r reporter) checkBuild(p string, b *Build) {
	r.checkEnum(p+".driver", b.Driver, buildDrivers(), true)
	why := fmt.Sprintf("with driver %s", b.Driver)
	switch b.Driver {
	case "hook":
		if b.URL.Ref == "" {
			r.value(p+".url", "is required for driver hook")
		}
		r.checkSecretURL(p+".url", b.URL)
		r.checkDeployAPI(p+".deploy", b.Deploy)
		r.notAllowed(p, why, map[string]bool{
			"command": b.Command != nil, "project_name": b.ProjectName != "",
			"region": b.Region != "", "endpoint": b.Endpoint != "", "env": b.Env != nil,
		})
	case "command":
		if len(b.Command) == 0 {
			r.value(p+".command", "is required for driver command (a list: program and arguments)")
		} else if strings.TrimSpace(b.Command[0]) == "" {
			r.value(p+".command[0]", "must name a program")
		}
		for _, k := range sortedKeys(b.Env) {
			if !validEnvName(k) {
				r.key(p+".env."+k, "%q is not a variable name (want letters, digits and _, not starting with a digit)", k)
			}
		}
		r.notAllowed(p, why, map[string]bool{
			"url": b.URL.Ref != "", "project_name": b.ProjectName != "",
			"region": b.Region != "", "endpoint": b.Endpoint != "", "deploy": b.Deploy != nil,
		})
	case "codebuild":
		if b.ProjectName == "" {
			r.value(p+".project_name", "is required for driver codebuild")
		}
		if b.Endpoint != "" {
			r.checkHTTPURL(p+".endpoint", b.Endpoint)
		}
		// The region names the endpoint's host (codebuild.REGION.amazonaws.com).
		if b.Region != "" && !awsRegion.MatchString(b.Region) {
			r.value(p+".region", "%q is not an AWS region (like eu-west-1)", b.Region)
		}
		r.notAllowed(p, why, map[string]bool{"url": b.URL.Ref != "", "command": b.Command != nil, "env": b.Env != nil, "deploy": b.Deploy != nil})
	}
}

func (r reporter) checkDeployAPI(p string, d *DeployAPI) {
	if d == nil {
		return
	}
	r.checkEnum(p+".host", d.Host, []string{HostCloudflare, HostNetlify, HostVercel}, true)
	if d.Site == "" {
		r.value(p+".site", "is required (the Netlify site id, Vercel project id or Cloudflare Pages project name)")
	}
	if d.Token.Ref == "" {
		r.value(p+".token", "is required (the host's API token, a ${VAR} reference)")
	}
	if d.APIBase != "" {
		r.checkHTTPURL(p+".api_base", d.APIBase)
	}
	switch {
	case d.Host == HostCloudflare && d.Account == "":
		r.value(p+".account", "is required for host cloudflare")
	case d.Host != HostCloudflare && d.Account != "":
		r.key(p+".account", "is for host cloudflare only")
	}
}

func (r reporter) checkResource(p string, res Resource) {
	r.checkEnum(p+".probe", res.Probe, probeKinds(), true)
	if res.ExpectStatus != 0 && (res.ExpectStatus < 100 || res.ExpectStatus > 599) {
		r.value(p+".expect_status", "must be an HTTP status between 100 and 599")
	}
	r.checkNonNegative(p+".min_days_valid", res.MinDaysValid)
	why := fmt.Sprintf("for probe %s", res.Probe)
	httpOnly := map[string]bool{
		"url": res.URL != "", "expect_status": res.ExpectStatus != 0,
		"body_match": res.BodyMatch != "", "max_latency": res.MaxLatency != 0,
	}
	switch res.Probe {
	case ProbeHTTP:
		if res.URL == "" {
			r.value(p+".url", "is required for probe http")
		} else {
			r.checkHTTPURL(p+".url", res.URL)
		}
		r.notAllowed(p, why, map[string]bool{
			"address": res.Address != "", "min_days_valid": res.MinDaysValid != 0, "name": res.Name != "",
		})
	case ProbeTLS, ProbeTCP:
		r.checkHostPort(p+".address", res.Address)
		httpOnly["name"] = res.Name != ""
		if res.Probe == ProbeTCP {
			httpOnly["min_days_valid"] = res.MinDaysValid != 0
		}
		r.notAllowed(p, why, httpOnly)
	case ProbeDNS:
		switch {
		case res.Name == "":
			r.value(p+".name", "is required for probe dns")
		case !validHostname(res.Name):
			r.value(p+".name", "%q is not a valid host name", res.Name)
		}
		httpOnly["address"] = res.Address != ""
		httpOnly["min_days_valid"] = res.MinDaysValid != 0
		r.notAllowed(p, why, httpOnly)
	}
}

// checkPolicy validates one ReconciliationPolicy document.
func (r reporter) checkPolicy(p *Policy) {
	r.checkID("metadata.client_id", p.Metadata.ClientID, true)
	r.checkID("metadata.stack_id", p.Metadata.StackID, false)
	r.checkPolicySpec("spec", &p.Spec)
}

func (r reporter) checkPolicySpec(base string, p *PolicySpec) {
	at := func(path string) string { return joinPath(base, path) }
	if p.Schedule.Interval != 0 && p.Schedule.Interval.D() < time.Second {
		r.value(at("schedule.interval"), "must be at least 1s")
	}
	if tz := p.Schedule.Timezone; tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || strings.EqualFold(tz, "local") {
			r.value(at("schedule.timezone"), "unknown time zone %q (want an IANA name such as UTC or Europe/Berlin)", tz)
		}
	}
	r.checkNonNegative(at("confirmation.observations"), p.Confirmation.Observations)
	if p.Confirmation.MaxUnknown != 0 && p.Confirmation.MaxUnknown.D() < time.Second {
		r.value(at("confirmation.max_unknown"), "must be at least 1s")
	}

	ah := p.AutoHeal
	r.checkEnum(at("auto_heal.mode"), ah.Mode, []string{"enforce", "dry_run"}, false)
	r.checkNonNegative(at("auto_heal.max_attempts"), ah.MaxAttempts)
	r.checkEnum(at("auto_heal.backoff_strategy"), ah.BackoffStrategy, []string{"linear", "exponential"}, false)
	if ah.BackoffBase != 0 && ah.BackoffCap != 0 && ah.BackoffCap < ah.BackoffBase {
		r.value(at("auto_heal.backoff_cap"), "must not be less than backoff_base")
	}
	r.checkList(at("auto_heal.allowed_drift_types"), ah.AllowedDriftTypes, driftCodes())
	r.checkList(at("auto_heal.require_approval"), ah.RequireApproval, approvalClasses())
	r.checkNonNegative(at("auto_heal.flapping.threshold"), ah.Flapping.Threshold)
	for i, w := range ah.MaintenanceWindows {
		base := fmt.Sprintf("auto_heal.maintenance_windows[%d]", i)
		if len(w.Days) == 0 {
			r.value(at(base+".days"), "must name at least one day (mon..sun)")
		}
		r.checkList(at(base+".days"), w.Days, []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"})
		if _, err := time.Parse("15:04", w.Start); err != nil {
			r.value(at(base+".start"), "must be a time of day HH:MM")
		}
		if w.Duration <= 0 || w.Duration.D() > 7*24*time.Hour {
			r.value(at(base+".duration"), "must be more than 0 and at most 7d")
		}
	}

	for i, c := range p.Notifications.Channels {
		r.checkChannelSpec(at(fmt.Sprintf("notifications.channels[%d]", i)), &c, true)
	}
	r.checkEnum(at("events.payload"), p.Events.Payload, []string{"minimal", "full", "none"}, false)
	if d := p.Events.Retention.D(); d < 0 || (d > 0 && d < time.Hour) {
		r.value(at("events.retention"), "must be at least 1h (or unset: the server's --event-retention)")
	}
	if d := p.Observability.HistoryRetention.D(); d < 0 || (d > 0 && d < time.Hour) {
		r.value(at("observability.history_retention"), "must be at least 1h (or unset: the server's --history-retention)")
	}
	if d := p.Predict.NotifyLead.D(); d < 0 || d > 365*24*time.Hour {
		r.value(at("predict.notify_lead"), "must be between 0 and 365d (unset: 72h)")
	}
	r.checkList(at("predict.preempt"), p.Predict.Preempt, PreemptActions())
}

// checkChannel validates one NotificationChannel document.
func (r reporter) checkChannel(c *NotificationChannel) {
	r.checkID("metadata.name", c.Metadata.Name, true)
	r.checkChannelSpec("spec", &c.Spec, false)
}

func (r reporter) checkChannelSpec(p string, c *ChannelSpec, inline bool) {
	fields := map[string]bool{
		"type": c.Type != "", "severity_threshold": c.SeverityThreshold != "",
		"webhook_url": c.WebhookURL.Ref != "", "addresses": c.Addresses != nil,
		"routing_key": c.RoutingKey.Ref != "", "url": c.URL != "", "secret": c.Secret.Ref != "",
		"subject": c.Subject != "", "smtp": c.SMTP != nil, "topic_arn": c.TopicARN != "",
		"region": c.Region != "", "endpoint": c.Endpoint != "", "access_key_id": c.AccessKeyID.Ref != "",
		"secret_access_key": c.SecretAccessKey.Ref != "", "session_token": c.SessionToken.Ref != "",
	}
	if c.Ref != "" || r.has(p+".ref") {
		if !inline {
			r.key(p+".ref", "not allowed in a NotificationChannel (ref names one from a policy)")
		} else {
			r.checkID(p+".ref", c.Ref, true)
			r.notAllowed(p, "with ref (the named NotificationChannel declares the channel)", fields)
			return
		}
	}
	r.checkEnum(p+".type", c.Type, channelTypes(), true)
	r.checkEnum(p+".severity_threshold", c.SeverityThreshold, severities(), false)
	why := fmt.Sprintf("for type %s", c.Type)
	delete(fields, "type")
	delete(fields, "severity_threshold")
	switch c.Type {
	case "slack":
		if c.WebhookURL.Ref == "" {
			r.value(p+".webhook_url", "is required for type slack")
		}
		r.checkSecretURL(p+".webhook_url", c.WebhookURL)
		r.checkReference(p+".webhook_url", c.WebhookURL) // rules.go
		delete(fields, "webhook_url")
	case "email":
		if len(c.Addresses) == 0 {
			r.value(p+".addresses", "is required for type email (a list of addresses)")
		}
		for i, a := range c.Addresses {
			if _, err := mail.ParseAddress(a); err != nil {
				r.value(fmt.Sprintf("%s.addresses[%d]", p, i), "%q is not an email address", a)
			}
		}
		if c.SMTP == nil {
			// serve cannot send without one: refuse it here, so that what
			// validates is what serve and apply accept.
			r.value(p+".smtp", "is required for type email: the server to send through (host, port, username, password)")
		} else {
			r.checkSMTP(p+".smtp", c.SMTP)
			r.checkReference(p+".smtp.password", c.SMTP.Password)
		}
		delete(fields, "addresses")
		delete(fields, "subject")
		delete(fields, "smtp")
	case "pagerduty":
		if c.RoutingKey.Ref == "" {
			r.value(p+".routing_key", "is required for type pagerduty")
		}
		r.checkReference(p+".routing_key", c.RoutingKey)
		delete(fields, "routing_key")
	case "webhook":
		if c.URL == "" {
			r.value(p+".url", "is required for type webhook")
		} else {
			r.checkHTTPURL(p+".url", c.URL)
		}
		r.checkReference(p+".secret", c.Secret)
		delete(fields, "url")
		delete(fields, "secret")
	case "nats":
		if c.Subject == "" {
			r.value(p+".subject", "is required for type nats")
		}
		if c.URL != "" {
			if u, err := url.Parse(c.URL); err != nil || u.Host == "" ||
				!slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme) {
				r.value(p+".url", "%q is not a NATS URL (nats://host:4222)", c.URL)
			}
		}
		delete(fields, "subject")
		delete(fields, "url")
	case "sns":
		r.checkSNS(p, c)
		for _, k := range []string{"topic_arn", "region", "endpoint", "access_key_id", "secret_access_key", "session_token"} {
			delete(fields, k)
		}
	default:
		return
	}
	r.notAllowed(p, why, fields)
}

// checkSNS checks an sns channel: a topic ARN, a region (the ARN's or
// region), an http(s) endpoint, and credentials as references, the key id
// and secret together.
func (r reporter) checkSNS(p string, c *ChannelSpec) {
	if c.TopicARN == "" {
		r.value(p+".topic_arn", "is required for type sns (arn:aws:sns:REGION:ACCOUNT:NAME)")
	} else if region, ok := SNSTopicRegion(c.TopicARN); !ok {
		r.value(p+".topic_arn", "%q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", c.TopicARN)
	} else if region == "" && c.Region == "" {
		r.value(p+".region", "is required when topic_arn names no region")
	}
	if c.Region != "" && !awsRegion.MatchString(c.Region) {
		r.value(p+".region", "%q is not an AWS region (like eu-west-1)", c.Region)
	}
	if c.Endpoint != "" {
		r.checkHTTPURL(p+".endpoint", c.Endpoint)
	}
	if (c.AccessKeyID.Ref == "") != (c.SecretAccessKey.Ref == "") {
		r.value(p+".access_key_id", "access_key_id and secret_access_key go together (or leave both out for the AWS SDK's default credential chain)")
	}
	if c.SessionToken.Ref != "" && c.AccessKeyID.Ref == "" {
		r.value(p+".session_token", "needs access_key_id and secret_access_key")
	}
	r.checkReference(p+".access_key_id", c.AccessKeyID)
	r.checkReference(p+".secret_access_key", c.SecretAccessKey)
	r.checkReference(p+".session_token", c.SessionToken)
}

// SNSTopicRegion is the region field of an SNS topic ARN
// (arn:PARTITION:sns:REGION:ACCOUNT:NAME; "" when the ARN leaves it
// out), and false when arn is not one.
func SNSTopicRegion(arn string) (string, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "sns" || parts[5] == "" {
		return "", false
	}
	if parts[3] != "" && !awsRegion.MatchString(parts[3]) {
		return "", false
	}
	for _, r := range parts[5] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "", false
		}
	}
	return parts[3], true
}

func (r reporter) checkSMTP(p string, s *SMTP) {
	if s.Host == "" {
		r.value(p+".host", "is required")
	}
	if s.Port < 0 || s.Port > 65535 {
		r.value(p+".port", "must be between 0 and 65535")
	}
	if s.From != "" {
		if _, err := mail.ParseAddress(s.From); err != nil {
			r.value(p+".from", "%q is not an email address", s.From)
		}
	}
}
