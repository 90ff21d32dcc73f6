package config

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the JSON Schema of blackwell.yaml.
const SchemaID = "https://blackwell.io/schemas/blackwell.schema.json"

// durationPattern is the syntax ParseDuration reads.
const durationPattern = `^(0|([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w))*)$`

// Schema returns the JSON Schema (draft 2020-12) of one document of
// blackwell.yaml: oneOf Stack, ReconciliationPolicy and NotificationChannel,
// told apart by kind. It is generated from the Go types; Parse remains the
// authority (cross-field and cross-document rules are not all expressible
// here). docs/blackwell.schema.json is a copy, kept current by
// `go test ./internal/config -run TestSchema -update`.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		Anonymous:                  true,
		RequiredFromJSONSchemaTags: true,
		Mapper:                     schemaMapper,
	}
	defs := jsonschema.Definitions{}
	root := &jsonschema.Schema{
		Version:     jsonschema.Version,
		ID:          SchemaID,
		Title:       "blackwell.yaml document",
		Description: "One document of blackwell.yaml (a file holds several, separated by ---).",
		Definitions: defs,
	}
	docs := []struct {
		v    any
		kind string
	}{
		{Stack{}, KindStack},
		{Policy{}, KindReconciliationPolicy},
		{NotificationChannel{}, KindNotificationChannel},
		{OrganizationPolicy{}, KindOrganizationPolicy},
		{Pipeline{}, KindPipeline},
	}
	for _, d := range docs {
		s := r.Reflect(d.v)
		for name, def := range s.Definitions {
			defs[name] = def
		}
		name := reflect.TypeOf(d.v).Name()
		def := defs[name]
		if def == nil || def.Properties == nil {
			return nil, fmt.Errorf("schema of %s: no definition", name)
		}
		def.Properties.Set("apiVersion", &jsonschema.Schema{Type: "string", Const: APIVersion})
		def.Properties.Set("kind", &jsonschema.Schema{Type: "string", Const: d.kind})
		def.Required = []string{"apiVersion", "kind", "metadata"}
		root.OneOf = append(root.OneOf, &jsonschema.Schema{Ref: "#/$defs/" + name})
	}
	if err := refineSchema(defs); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal schema: %w", err)
	}
	return append(out, '\n'), nil
}

// schemaMapper gives the types with their own text form their schema. Their
// words go in title: the reflector overwrites a property's description.
func schemaMapper(t reflect.Type) *jsonschema.Schema {
	secret := func() *jsonschema.Schema {
		return &jsonschema.Schema{
			Type:  "string",
			Title: "secret: ${VAR} references ($$ for a literal $); credentials, webhook secrets, build hook URLs and channel secrets (webhook_url, routing_key, secret, smtp.password, access_key_id, secret_access_key, session_token) must be references; build.env values may be literal",
		}
	}
	switch t {
	case reflect.TypeFor[Duration]():
		return &jsonschema.Schema{
			Type:    "string",
			Pattern: durationPattern,
			Title:   "duration: numbers with units ns, us, ms, s, m, h, d (24h) or w (7d), e.g. 30s, 5m, 1h30m, 30d",
		}
	case reflect.TypeFor[Secret]():
		return secret()
	case reflect.TypeFor[SecretList]():
		return &jsonschema.Schema{
			OneOf: []*jsonschema.Schema{secret(), {Type: "array", Items: secret()}},
		}
	}
	return nil
}

// refineSchema adds the rules that struct tags cannot express: the syntax
// of ids and names (IDPattern), the role names of providers, the drift
// codes and classes of auto-heal, the confirmation's documentation, and
// (requireByKind) the fields each probe, build driver and channel type
// requires.
func refineSchema(defs jsonschema.Definitions) error {
	prop := func(def, name string) (*jsonschema.Schema, error) {
		d := defs[def]
		if d == nil || d.Properties == nil {
			return nil, fmt.Errorf("schema: no definition %s", def)
		}
		p, ok := d.Properties.Get(name)
		if !ok {
			return nil, fmt.Errorf("schema: %s has no property %s", def, name)
		}
		return p, nil
	}
	// Names and ids: IDPattern, written here once (a struct tag cannot
	// name a constant).
	for _, id := range idProperties() {
		p, err := prop(id[0], id[1])
		if err != nil {
			return err
		}
		p.Pattern = IDPattern
	}
	// spec.app is metadata.app copied into the stored document, not a
	// field one writes under spec.
	if d := defs["StackSpec"]; d != nil && d.Properties != nil {
		d.Properties.Delete("app")
	}
	if p, err := prop("StackSpec", "overrides"); err == nil {
		p.Items = &jsonschema.Schema{Type: "string", Pattern: overridePattern()}
	}
	providers, err := prop("StackSpec", "providers")
	if err != nil {
		return err
	}
	providers.PropertyNames = &jsonschema.Schema{Enum: []any{RoleCMS, RoleEcommerce, RoleSSG}}
	for _, name := range []string{"integrations", "resources"} {
		p, err := prop("StackSpec", name)
		if err != nil {
			return err
		}
		p.PropertyNames = &jsonschema.Schema{Pattern: IDPattern}
	}
	for _, name := range []string{"allowed_drift_types", "require_approval"} {
		p, err := prop("AutoHeal", name)
		if err != nil {
			return err
		}
		values := driftCodes()
		if name == "require_approval" {
			values = approvalClasses()
		}
		enum := make([]any, len(values))
		for i, v := range values {
			enum[i] = v
		}
		p.Items = &jsonschema.Schema{Type: "string", Enum: enum}
	}
	preempt, err := prop("Predict", "preempt")
	if err != nil {
		return err
	}
	preempt.Items = &jsonschema.Schema{Type: "string", Enum: []any{PreemptReregisterSubscription, PreemptRebuild}}

	for name, text := range confirmationDocs() {
		p, err := prop("Confirmation", name)
		if err != nil {
			return err
		}
		p.Description = text
	}
	if d := defs["Confirmation"]; d != nil {
		d.Description = "Drift is confirmed (reported, notified, healed) once seen in at least `observations` passes AND " +
			"persisted for `grace_period` since first seen. When neither is set the default is 2 passes and 30s; " +
			"otherwise both are taken as written. A stack's first pass confirms nothing. Unknown observations " +
			"(unreachable, timeout, throttled, breaker open) are never drift."
	}

	return requireByKind(defs)
}

// requireByKind adds the fields each probe, build driver and channel type
// requires.
func requireByKind(defs jsonschema.Definitions) error {
	when := func(field, value string, required ...string) *jsonschema.Schema {
		props := jsonschema.NewProperties()
		props.Set(field, &jsonschema.Schema{Const: value})
		return &jsonschema.Schema{
			If:   &jsonschema.Schema{Properties: props, Required: []string{field}},
			Then: &jsonschema.Schema{Required: required},
		}
	}
	set := func(def string, rules ...*jsonschema.Schema) error {
		d := defs[def]
		if d == nil {
			return fmt.Errorf("schema: no definition %s", def)
		}
		d.AllOf = append(d.AllOf, rules...)
		return nil
	}
	if err := set("Resource",
		when("probe", ProbeHTTP, "url"),
		when("probe", ProbeTLS, "address"),
		when("probe", ProbeTCP, "address"),
		when("probe", ProbeDNS, "name"),
	); err != nil {
		return err
	}
	if err := set("Build",
		when("driver", "hook", "url"),
		when("driver", "command", "command"),
		when("driver", "codebuild", "project_name"),
	); err != nil {
		return err
	}
	d := defs["ChannelSpec"]
	if d == nil {
		return fmt.Errorf("schema: no definition ChannelSpec")
	}
	d.AnyOf = []*jsonschema.Schema{{Required: []string{"ref"}}, {Required: []string{"type"}}}
	return set("ChannelSpec",
		when("type", "slack", "webhook_url"),
		when("type", "email", "addresses"),
		when("type", "pagerduty", "routing_key"),
		when("type", "webhook", "url"),
		when("type", "nats", "subject"),
		when("type", "sns", "topic_arn"),
	)
}

// idProperties are the properties (definition, name) whose values are ids
// or names of IDPattern's syntax; the names of integrations and resources
// are too (refineSchema).
func idProperties() [][2]string {
	return [][2]string{
		{"StackMeta", "client_id"}, {"StackMeta", "stack_id"},
		{"ProviderBinding", "name"},
		{"PolicyMeta", "client_id"}, {"PolicyMeta", "stack_id"},
		{"ChannelMeta", "name"}, {"ChannelSpec", "ref"},
		{"StackMeta", "app"}, {"PipelineMeta", "client_id"}, {"PipelineMeta", "app"},
	}
}

// confirmationDocs are the schema descriptions of the confirmation fields.
func confirmationDocs() map[string]string {
	return map[string]string{
		"observations": "Passes that must see a drift before it is confirmed (0 is 1). Both this and grace_period must hold.",
		"grace_period": "How long a drift must persist since first seen before it is confirmed (0: observations alone). " +
			"A suspected drift is looked at again when its grace period ends.",
		"critical_immediate": "Confirm critical drift at its first observation when the provider answered it authoritatively " +
			"(a 404 for the account); never on inference (events from another provider). Default true.",
		"max_unknown": "How long a provider's API may stay unknown (unreachable, timing out, throttled, breaker open) " +
			"before it is reported as provider_unreachable. Default 10m. Unknown is never any other drift.",
	}
}
