package api

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// The API reference, docs/API.md, is generated from openapi.json and the
// route access table: go test ./internal/api -run TestAPIReference -update

func apiDocPath() string { return filepath.Join("..", "..", "docs", "API.md") }

// TestAPIReference: docs/API.md is what renderAPIDoc makes of the OpenAPI
// document this package serves, and every operation of it names the role
// routeAccess requires.
func TestAPIReference(t *testing.T) {
	t.Parallel()
	var doc oaDoc
	require.NoError(t, json.Unmarshal(openAPIDocument, &doc))
	got, err := renderAPIDoc(doc, routeAccess())
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(apiDocPath(), []byte(got), 0o644))
	}
	want, err := os.ReadFile(apiDocPath())
	require.NoError(t, err)
	require.Equal(t, string(want), got, "docs/API.md is out of date: go test ./internal/api -run TestAPIReference -update")
}

// TestRenderAPIDocRefusesAnUndocumentedRoute: an operation must have a tag
// and a route in the access table, or the reference would leave it out or
// misstate who may call it; a tag the document does not declare makes a
// group of its own.
func TestRenderAPIDocRefusesAnUndocumentedRoute(t *testing.T) {
	t.Parallel()
	op := oaOperation{Tags: []string{"health"}, Summary: "s", Responses: map[string]oaResponse{"200": {Description: "ok"}}}
	doc := oaDoc{Tags: []oaTag{{Name: "health"}}, Paths: map[string]map[string]json.RawMessage{}}
	raw, err := json.Marshal(op)
	require.NoError(t, err)
	doc.Paths["/x"] = map[string]json.RawMessage{"get": raw}

	_, err = renderAPIDoc(doc, map[string]access{})
	require.ErrorContains(t, err, "GET /x: not in routeAccess")

	_, err = renderAPIDoc(doc, map[string]access{"GET /x": {role: store.RoleViewer}})
	require.NoError(t, err)

	op.Tags = []string{"extra"}
	raw, err = json.Marshal(op)
	require.NoError(t, err)
	doc.Paths["/x"]["get"] = raw
	got, err := renderAPIDoc(doc, map[string]access{"GET /x": {role: store.RoleViewer}})
	require.NoError(t, err)
	require.Contains(t, got, "## extra\n\n### GET /x\n")

	op.Tags = nil
	raw, err = json.Marshal(op)
	require.NoError(t, err)
	doc.Paths["/x"]["get"] = raw
	_, err = renderAPIDoc(doc, map[string]access{"GET /x": {role: store.RoleViewer}})
	require.ErrorContains(t, err, "GET /x: no tag")
}

// The parts of an OpenAPI 3.1 document the reference shows.
type oaDoc struct {
	Info struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Summary     string `json:"summary"`
		Description string `json:"description"`
	} `json:"info"`
	Tags       []oaTag                               `json:"tags"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Parameters      map[string]oaParameter `json:"parameters"`
		Responses       map[string]oaResponse  `json:"responses"`
		Schemas         map[string]*oaSchema   `json:"schemas"`
		SecuritySchemes map[string]struct {
			Description string `json:"description"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

type oaTag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type oaOperation struct {
	Tags        []string              `json:"tags"`
	Summary     string                `json:"summary"`
	Description string                `json:"description,omitempty"`
	Parameters  []oaParameter         `json:"parameters,omitempty"`
	RequestBody *oaBody               `json:"requestBody,omitempty"`
	Responses   map[string]oaResponse `json:"responses"`
}

type oaParameter struct {
	Ref         string    `json:"$ref,omitempty"`
	Name        string    `json:"name,omitempty"`
	In          string    `json:"in,omitempty"`
	Required    bool      `json:"required,omitempty"`
	Description string    `json:"description,omitempty"`
	Schema      *oaSchema `json:"schema,omitempty"`
}

type oaBody struct {
	Required    bool                   `json:"required"`
	Description string                 `json:"description,omitempty"`
	Content     map[string]oaMediaType `json:"content"`
}

type oaResponse struct {
	Ref         string                 `json:"$ref,omitempty"`
	Description string                 `json:"description,omitempty"`
	Content     map[string]oaMediaType `json:"content,omitempty"`
}

type oaMediaType struct {
	Schema *oaSchema `json:"schema"`
}

type oaSchema struct {
	Ref                  string               `json:"$ref"`
	Type                 any                  `json:"type"` // a string or a list of them
	Format               string               `json:"format"`
	Description          string               `json:"description"`
	Enum                 []any                `json:"enum"`
	Items                *oaSchema            `json:"items"`
	Properties           map[string]*oaSchema `json:"properties"`
	Required             []string             `json:"required"`
	AdditionalProperties any                  `json:"additionalProperties"`
	OneOf                []*oaSchema          `json:"oneOf"`
	AnyOf                []*oaSchema          `json:"anyOf"`
	AllOf                []*oaSchema          `json:"allOf"`
}

// methodOrder is the order of a path's operations in the reference.
var methodOrder = []string{"get", "put", "post", "patch", "delete"}

// renderAPIDoc writes docs/API.md: the document's introduction and
// authentication, then its operations grouped by tag (in the document's
// tag order; by path, then method, within a tag), then its schemas.
func renderAPIDoc(doc oaDoc, table map[string]access) (string, error) {
	type entry struct {
		method, path string
		op           oaOperation
		pathParams   []oaParameter
	}
	byTag := map[string][]entry{}
	declared := map[string]bool{}
	var undeclared []oaTag
	for _, tg := range doc.Tags {
		declared[tg.Name] = true
	}
	paths := keysOf(doc.Paths)
	slices.Sort(paths)
	for _, p := range paths {
		var pathParams []oaParameter
		if raw, ok := doc.Paths[p]["parameters"]; ok {
			if err := json.Unmarshal(raw, &pathParams); err != nil {
				return "", fmt.Errorf("%s: parameters: %w", p, err)
			}
		}
		for m := range doc.Paths[p] {
			if m != "parameters" && !slices.Contains(methodOrder, m) {
				return "", fmt.Errorf("%s: unknown method %q", p, m)
			}
		}
		for _, m := range methodOrder {
			raw, ok := doc.Paths[p][m]
			if !ok {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				return "", fmt.Errorf("%s %s: %w", m, p, err)
			}
			method := strings.ToUpper(m)
			if _, ok := table[muxPattern(method, p)]; !ok {
				return "", fmt.Errorf("%s %s: not in routeAccess", method, p)
			}
			if len(op.Tags) == 0 {
				return "", fmt.Errorf("%s %s: no tag", method, p)
			}
			if !declared[op.Tags[0]] {
				// A tag the document uses without declaring it makes a
				// group of its own, after the declared ones.
				declared[op.Tags[0]] = true
				undeclared = append(undeclared, oaTag{Name: op.Tags[0]})
			}
			byTag[op.Tags[0]] = append(byTag[op.Tags[0]], entry{method, p, op, pathParams})
		}
	}

	slices.SortFunc(undeclared, func(a, b oaTag) int { return strings.Compare(a.Name, b.Name) })
	tags := append(slices.Clone(doc.Tags), undeclared...)

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# API reference\n\n")
	w("<!-- Generated by TestAPIReference (internal/api/apidoc_test.go) from\ninternal/api/openapi.json and the route access table (internal/api/auth.go).\nDo not edit: change those, then run: go test ./internal/api -run TestAPIReference -update -->\n\n")
	w("%s, version %s: %s\n\n", doc.Info.Title, doc.Info.Version, doc.Info.Summary)
	w("The server serves this document as OpenAPI 3.1 at `GET /v1/openapi.json` (any valid token); ")
	w("`blackwell` is a client of it (`--server`, default `http://127.0.0.1:8080`).\n\n")
	w("%s\n\n", doc.Info.Description)
	w("## Authentication and roles\n\n")
	for _, name := range sortedKeys(doc.Components.SecuritySchemes) {
		w("%s\n\n", doc.Components.SecuritySchemes[name].Description)
	}
	w("Send the token as `Authorization: Bearer bw_...`. Each operation below names the least role it needs ")
	w("(`viewer` < `operator` < `admin`) and what a token scoped to one client may do with it:\n\n")
	w("- *its client only*: the `{client_id}` in the path must be the token's client;\n")
	w("- *filtered*: the `?client_id=` filter is set to the token's client (another client is refused);\n")
	w("- *unscoped tokens only*: the route concerns every client, and a scoped token is refused (403);\n")
	w("- *any token*: the route holds no client's data.\n\n")
	w("## Operations\n\n")
	for _, tg := range tags {
		entries := byTag[tg.Name]
		if len(entries) == 0 {
			continue
		}
		w("- [%s](#%s): ", tg.Name, tg.Name)
		for i, e := range entries {
			if i > 0 {
				w(", ")
			}
			w("`%s %s`", e.method, e.path)
		}
		w("\n")
	}
	w("\n")

	for _, tg := range tags {
		entries := byTag[tg.Name]
		if len(entries) == 0 {
			continue
		}
		w("## %s\n\n", tg.Name)
		if tg.Description != "" {
			w("%s\n\n", tg.Description)
		}
		for _, e := range entries {
			w("### %s %s\n\n", e.method, e.path)
			w("%s.", strings.TrimSuffix(e.op.Summary, "."))
			if e.op.Description != "" {
				w(" %s", e.op.Description)
			}
			w("\n\n")
			w("**Access:** %s\n\n", accessText(table[muxPattern(e.method, e.path)], e.path))
			params, err := resolveParams(doc, append(slices.Clone(e.pathParams), e.op.Parameters...))
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", e.method, e.path, err)
			}
			if len(params) > 0 {
				w("**Parameters:**\n\n| Name | In | Required | Type | Description |\n|---|---|---|---|---|\n")
				for _, p := range params {
					w("| `%s` | %s | %s | %s | %s |\n", p.Name, p.In, yesNo(p.Required), schemaType(p.Schema), cell(p.Description))
				}
				w("\n")
			}
			if rb := e.op.RequestBody; rb != nil {
				w("**Request body** (%s):", map[bool]string{true: "required", false: "optional"}[rb.Required])
				if rb.Description != "" {
					w(" %s", rb.Description)
				}
				w("\n\n")
				for _, ct := range sortedKeys(rb.Content) {
					w("- `%s`: %s\n", ct, schemaText(rb.Content[ct].Schema))
				}
				w("\n")
			}
			w("**Answers:**\n\n| Status | Meaning | Body |\n|---|---|---|\n")
			for _, code := range sortedKeys(e.op.Responses) {
				r := e.op.Responses[code]
				if r.Ref != "" {
					name := strings.TrimPrefix(r.Ref, "#/components/responses/")
					shared, ok := doc.Components.Responses[name]
					if !ok {
						return "", fmt.Errorf("%s %s: no response %s", e.method, e.path, r.Ref)
					}
					r = shared
				}
				var bodies []string
				for _, ct := range sortedKeys(r.Content) {
					bodies = append(bodies, fmt.Sprintf("`%s` %s", ct, schemaText(r.Content[ct].Schema)))
				}
				body := strings.Join(bodies, "; ")
				if body == "" {
					body = "none"
				}
				w("| %s | %s | %s |\n", code, cell(r.Description), cell(body))
			}
			w("\n")
		}
	}

	w("## Schemas\n\n")
	w("The bodies the operations above send and answer. A field in **bold** is always present (required).\n\n")
	for _, name := range sortedKeys(doc.Components.Schemas) {
		s := doc.Components.Schemas[name]
		w("<a id=\"%s\"></a>\n\n### %s\n\n", schemaAnchor(name), name)
		if s.Description != "" {
			w("%s\n\n", s.Description)
		}
		if len(s.Properties) == 0 {
			w("%s\n\n", schemaText(s))
			continue
		}
		w("| Field | Type | Description |\n|---|---|---|\n")
		for _, field := range sortedKeys(s.Properties) {
			f := s.Properties[field]
			label := "`" + field + "`"
			if slices.Contains(s.Required, field) {
				label = "**" + label + "**"
			}
			w("| %s | %s | %s |\n", label, schemaType(f), cell(f.Description))
		}
		w("\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}

// muxPattern is the access table's key of a documented operation: the
// document's "/" is the mux's "/{$}" (that path exactly).
func muxPattern(method, path string) string {
	if path == "/" {
		path = "/{$}"
	}
	return method + " " + path
}

// accessText says who may call a route.
func accessText(a access, path string) string {
	if a.role == "" {
		if strings.HasPrefix(path, "/v1/webhooks/") {
			return "public (no token); the delivery must carry the provider's valid signature."
		}
		if path == "/metrics" {
			return "public (no token), unless `serve --metrics-auth`: then an unscoped `viewer` token."
		}
		return "public (no token)."
	}
	scope := map[scope]string{
		scopeGlobal: "unscoped tokens only",
		scopePath:   "a scoped token: its client only",
		scopeQuery:  "a scoped token: filtered to its client",
		scopeNone:   "any token",
	}[a.scope]
	return fmt.Sprintf("`%s` or higher; %s.", a.role, scope)
}

// resolveParams follows parameter references into components.
func resolveParams(doc oaDoc, in []oaParameter) ([]oaParameter, error) {
	out := make([]oaParameter, 0, len(in))
	for _, p := range in {
		if p.Ref != "" {
			name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
			shared, ok := doc.Components.Parameters[name]
			if !ok {
				return nil, fmt.Errorf("no parameter %s", p.Ref)
			}
			p = shared
		}
		out = append(out, p)
	}
	return out, nil
}

// schemaText is a schema's type, followed by its description when it is
// an inline one (a referenced schema is described in the Schemas section).
func schemaText(s *oaSchema) string {
	t := schemaType(s)
	if s != nil && s.Ref == "" && s.Description != "" {
		t += ": " + s.Description
	}
	return t
}

// schemaType writes a schema's type in a few words, linking named schemas.
func schemaType(s *oaSchema) string {
	if s == nil {
		return "any"
	}
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		return fmt.Sprintf("[%s](#%s)", name, schemaAnchor(name))
	}
	alternatives := func(word string, list []*oaSchema) string {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = schemaType(x)
		}
		return word + " " + strings.Join(parts, ", ")
	}
	switch {
	case len(s.OneOf) > 0:
		return alternatives("one of", s.OneOf)
	case len(s.AnyOf) > 0:
		return alternatives("any of", s.AnyOf)
	case len(s.AllOf) > 0:
		return alternatives("all of", s.AllOf)
	}
	var t string
	switch v := s.Type.(type) {
	case string:
		t = v
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		t = strings.Join(parts, " or ")
	default:
		t = "any"
	}
	switch {
	case t == "array" && s.Items != nil:
		t = "array of " + schemaType(s.Items)
	case t == "object" && len(s.Properties) == 0:
		if extra, ok := s.AdditionalProperties.(map[string]any); ok {
			raw, _ := json.Marshal(extra)
			var inner oaSchema
			if json.Unmarshal(raw, &inner) == nil {
				t = "map of " + schemaType(&inner)
			}
		}
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprintf("`%v`", v)
		}
		t += ": " + strings.Join(vals, ", ")
	}
	return t
}

// schemaAnchor is the link target of a schema's section (tags and
// schemas share names, Health and health, so headings alone collide).
func schemaAnchor(name string) string { return "schema-" + strings.ToLower(name) }

// cell makes text fit in a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := keysOf(m)
	slices.Sort(out)
	return out
}
