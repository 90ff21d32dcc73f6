package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	validator "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// update rewrites the golden files: go test ./internal/config -run TestSchema -update
var update = flag.Bool("update", false, "rewrite docs/blackwell.schema.json from Schema()")

func schemaPath() string { return filepath.Join("..", "..", "docs", "blackwell.schema.json") }

func TestSchemaIsCurrent(t *testing.T) {
	t.Parallel()
	got, err := Schema()
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(schemaPath(), got, 0o644))
	}
	want, err := os.ReadFile(schemaPath())
	require.NoError(t, err)
	require.Equal(t, string(want), string(got),
		"docs/blackwell.schema.json is out of date: go test ./internal/config -run TestSchema -update")
}

func compileSchema(t *testing.T) *validator.Schema {
	t.Helper()
	raw, err := Schema()
	require.NoError(t, err)
	doc, err := validator.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	c := validator.NewCompiler()
	require.NoError(t, c.AddResource(SchemaID, doc))
	sch, err := c.Compile(SchemaID)
	require.NoError(t, err)
	return sch
}

// documentsAsJSON decodes each document of a YAML stream into the JSON
// values the validator takes.
func documentsAsJSON(t *testing.T, src []byte) []any {
	t.Helper()
	var out []any
	for _, c := range splitDocuments(src) {
		if onlyCommentsOrDirectives(c.text) {
			continue
		}
		var v any
		require.NoError(t, yaml.Unmarshal(c.text, &v))
		b, err := json.Marshal(v)
		require.NoError(t, err)
		inst, err := validator.UnmarshalJSON(bytes.NewReader(b))
		require.NoError(t, err)
		out = append(out, inst)
	}
	return out
}

func TestSchemaAcceptsTheExample(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	src, err := os.ReadFile(examplePath())
	require.NoError(t, err)
	docs := documentsAsJSON(t, src)
	require.Len(t, docs, 6)
	for i, d := range docs {
		require.NoError(t, sch.Validate(d), "document %d", i)
	}
}

func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	tests := []struct{ name, doc string }{
		{"unknown kind", "apiVersion: blackwell.io/v1\nkind: Stak\nmetadata: {client_id: a, stack_id: b}\n"},
		{"wrong apiVersion", "apiVersion: blackwell.io/v2\nkind: Stack\nmetadata: {client_id: a, stack_id: b}\n"},
		{"unknown field", "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: a, stack_id: b, owner: c}\n"},
		{"bad id", "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: Acme, stack_id: b}\n"},
		{"unknown role", "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: a, stack_id: b}\nspec: {providers: {search: {name: x}}}\n"},
		{"http probe without url", "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: a, stack_id: b}\nspec: {resources: {site: {probe: http}}}\n"},
		{"bad duration", "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: a, stack_id: b}\nspec: {resources: {site: {probe: tcp, address: 'a:1', timeout: 5x}}}\n"},
		{"hook without url", "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: a, stack_id: b}\nspec: {providers: {ssg: {name: hugo, build: {driver: hook}}}}\n"},
		{"bad drift type", "apiVersion: blackwell.io/v1\nkind: ReconciliationPolicy\nmetadata: {client_id: a}\nspec: {auto_heal: {allowed_drift_types: [nope]}}\n"},
		{"negative attempts", "apiVersion: blackwell.io/v1\nkind: ReconciliationPolicy\nmetadata: {client_id: a}\nspec: {auto_heal: {max_attempts: -1}}\n"},
		{"channel without type", "apiVersion: blackwell.io/v1\nkind: NotificationChannel\nmetadata: {name: a}\nspec: {severity_threshold: low}\n"},
		{"secret list of mappings", "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: a, stack_id: b}\nspec: {providers: {cms: {name: x, webhook_secret: [{a: b}]}}}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			docs := documentsAsJSON(t, []byte(tt.doc))
			require.Len(t, docs, 1)
			require.Error(t, sch.Validate(docs[0]))
			_, err := Parse("doc.yaml", []byte(tt.doc), testEnv)
			require.Error(t, err, "Parse agrees with the schema")
		})
	}
}

// TestIDPatternIsWrittenOnce: the published schema's ids and names carry
// IDPattern, the validator's, and no struct tag of types.go spells out a
// copy of it; ValidID reads it as documented.
func TestIDPatternIsWrittenOnce(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("types.go")
	require.NoError(t, err)
	require.NotRegexp(t, `pattern=\^\[a-z0-9\]`, string(src), "types.go spells out an id pattern: refineSchema sets it")

	out, err := Schema()
	require.NoError(t, err)
	var doc struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Pattern       string `json:"pattern"`
				PropertyNames *struct {
					Pattern string `json:"pattern"`
				} `json:"propertyNames"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	for _, id := range idProperties() {
		require.Equal(t, IDPattern, doc.Defs[id[0]].Properties[id[1]].Pattern, "%s.%s", id[0], id[1])
	}
	for _, name := range []string{"integrations", "resources"} {
		require.Equal(t, IDPattern, doc.Defs["StackSpec"].Properties[name].PropertyNames.Pattern, "StackSpec.%s names", name)
	}
	n := 0
	for _, def := range doc.Defs {
		for _, p := range def.Properties {
			if strings.HasPrefix(p.Pattern, "^[a-z0-9]") {
				n++
			}
		}
	}
	require.Equal(t, len(idProperties()), n, "every id property of the schema is in idProperties")

	for _, id := range []struct {
		id string
		ok bool
	}{{"acme-corp", true}, {"a.b_c-1", true}, {"", false}, {"-acme", false}, {"Acme", false}, {strings.Repeat("a", 64), false}, {strings.Repeat("a", 63), true}} {
		require.Equal(t, id.ok, ValidID(id.id), id.id)
	}
}
