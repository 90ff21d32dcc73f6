package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
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

// TestSchemaIDPatternsAreIDPattern: the id patterns the jsonschema tags of
// types.go spell out (a tag cannot name a constant) are IDPattern, so the
// published schema and the validator agree on what an id is.
func TestSchemaIDPatternsAreIDPattern(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("types.go")
	require.NoError(t, err)
	tags := regexp.MustCompile(`pattern=(\^\[a-z0-9\][^"]*)`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, tags)
	for _, m := range tags {
		require.Equal(t, IDPattern, strings.ReplaceAll(m[1], `\\,`, ","), "tag pattern %s", m[1])
	}
	for _, id := range []struct {
		id string
		ok bool
	}{{"acme-corp", true}, {"a.b_c-1", true}, {"", false}, {"-acme", false}, {"Acme", false}, {strings.Repeat("a", 64), false}, {strings.Repeat("a", 63), true}} {
		require.Equal(t, id.ok, ValidID(id.id), id.id)
	}
}
