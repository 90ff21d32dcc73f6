package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Limits that keep a hostile document (alias bombs, deep nesting) cheap.
const (
	maxDepth      = 64
	maxNodeVisits = 200_000
)

// nodeRef is where a path of a document was found: its key (nil for a list
// entry or the document root) and its value.
type nodeRef struct {
	key, value ast.Node
}

// nodeDecoder decodes one YAML document's AST into Go values, strictly,
// recording every problem instead of stopping at the first, and indexes the
// nodes by path ("spec.resources.site.url", "spec.topics[0]") so that later
// checks can report positions.
//
// goccy's yaml.NodeToValue stops at the first problem of a document and
// reports unknown fields in map order, so this walks the AST itself.
type nodeDecoder struct {
	file       string
	lineOffset int
	errs       *Errors
	index      map[string]nodeRef
	failed     map[string]bool // paths whose value could not be decoded
	anchors    map[string][]anchorDef
	visits     int
	exhausted  bool
}

type anchorDef struct {
	offset int
	value  ast.Node
}

func newNodeDecoder(file string, lineOffset int, errs *Errors, root ast.Node) *nodeDecoder {
	d := &nodeDecoder{
		file:       file,
		lineOffset: lineOffset,
		errs:       errs,
		index:      map[string]nodeRef{},
		failed:     map[string]bool{},
		anchors:    map[string][]anchorDef{},
	}
	d.collectAnchors(root, 0)
	return d
}

// collectAnchors records every anchor of the document with its offset, so
// that an alias resolves to the latest anchor of that name before it.
func (d *nodeDecoder) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	switch n := n.(type) {
	case *ast.AnchorNode:
		if name, ok := scalarText(n.Name); ok {
			d.anchors[name] = append(d.anchors[name], anchorDef{offset: tokenOffset(n.Start), value: n.Value})
		}
		d.collectAnchors(n.Value, depth+1)
	case *ast.MappingNode:
		for _, v := range n.Values {
			d.collectAnchors(v, depth+1)
		}
	case *ast.MappingValueNode:
		d.collectAnchors(n.Key, depth+1)
		d.collectAnchors(n.Value, depth+1)
	case *ast.MappingKeyNode:
		d.collectAnchors(n.Value, depth+1)
	case *ast.SequenceNode:
		for _, v := range n.Values {
			d.collectAnchors(v, depth+1)
		}
	case *ast.TagNode:
		d.collectAnchors(n.Value, depth+1)
	}
}

func tokenOffset(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Offset
}

// position of a node: its first key for a mapping, its first token otherwise.
func (d *nodeDecoder) position(n ast.Node) (line, col int) {
	var tk *token.Token
	switch x := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if len(x.Values) > 0 {
			return d.position(x.Values[0])
		}
		tk = x.Start
	case *ast.MappingValueNode:
		if x.Key != nil {
			return d.position(x.Key)
		}
		tk = x.Start
	case *ast.MappingKeyNode:
		tk = x.Start
	case *ast.SequenceNode:
		tk = x.Start
	case *ast.LiteralNode:
		tk = x.Start
	case *ast.AnchorNode:
		tk = x.Start
	case *ast.AliasNode:
		tk = x.Start
	case *ast.TagNode:
		tk = x.Start
	}
	if tk == nil {
		tk = n.GetToken()
	}
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line + d.lineOffset, tk.Position.Column
}

// fail records a problem decoding the value at path. Checks skip a path
// that failed (and everything under it), so one mistake is one error.
func (d *nodeDecoder) fail(n ast.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.errorf(n, path, format, args...)
}

// hasFailed reports whether path or one of its ancestors failed to decode.
func (d *nodeDecoder) hasFailed(path string) bool {
	for {
		if d.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// errorf records a problem at node n; a non-empty path prefixes the message.
func (d *nodeDecoder) errorf(n ast.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	line, col := d.position(n)
	if line <= d.lineOffset || col < 1 {
		// A node without a position: name the document's first line.
		line, col = d.lineOffset+1, 1
	}
	d.errs.add(Error{File: d.file, Line: line, Column: col, Message: msg})
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// resolve unwraps anchors, aliases and tags. ok is false when the node is
// unusable (the problem is recorded).
func (d *nodeDecoder) resolve(n ast.Node, path string, depth int) (ast.Node, bool) {
	for range maxDepth {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.AliasNode:
			name, _ := scalarText(x.Value)
			target, found := d.lookupAnchor(name, tokenOffset(x.Start))
			if !found {
				d.fail(x, path, "alias *%s names no anchor before it", name)
				return nil, false
			}
			n = target
		case *ast.TagNode:
			tag := ""
			if x.Start != nil {
				tag = x.Start.Value
			}
			switch tag {
			case "!!str", "!!int", "!!bool", "!!float", "!!null", "!!map", "!!seq", "!!binary", "!!timestamp":
				n = x.Value
			default:
				d.fail(x, path, "unsupported tag %q", tag)
				return nil, false
			}
		default:
			return n, true
		}
	}
	d.fail(n, path, "too many nested aliases")
	return nil, false
}

func (d *nodeDecoder) lookupAnchor(name string, offset int) (ast.Node, bool) {
	defs := d.anchors[name]
	for i := len(defs) - 1; i >= 0; i-- {
		if defs[i].offset < offset {
			return defs[i].value, true
		}
	}
	return nil, false
}

// scalarText is the text of a scalar node; ok is false for collections,
// null and booleans.
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.IntegerNode:
		return x.Token.Value, true
	case *ast.FloatNode:
		return x.Token.Value, true
	case *ast.InfinityNode:
		return x.Token.Value, true
	case *ast.NanNode:
		return x.Token.Value, true
	}
	return "", false
}

// kindOf names a node's type for messages.
func kindOf(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	}
	return "a " + n.Type().String()
}

// entry is one key: value of a mapping.
type entry struct {
	name       string
	key, value ast.Node
}

// entries lists a mapping's entries, merge keys (<<) applied: an explicit
// key wins over a merged one. Duplicate keys and non-string keys are errors.
func (d *nodeDecoder) entries(m *ast.MappingNode, path string, depth int) []entry {
	var explicit, merged []entry
	seen := map[string]bool{}
	for _, mv := range m.Values {
		if mv == nil || !d.visit(mv, path) {
			continue
		}
		if _, isMerge := mv.Key.(*ast.MergeKeyNode); isMerge {
			merged = append(merged, d.mergeEntries(mv.Value, path, depth+1)...)
			continue
		}
		var keyNode ast.Node = mv.Key
		if k, ok := keyNode.(*ast.MappingKeyNode); ok {
			keyNode = k.Value
		}
		keyNode, ok := d.resolve(keyNode, path, depth)
		if !ok {
			continue
		}
		name, ok := scalarText(keyNode)
		if !ok {
			d.errorf(mv.Key, path, "keys must be strings, not %s", kindOf(keyNode))
			continue
		}
		if seen[name] {
			d.errorf(mv.Key, path, "duplicate key %q", name)
			continue
		}
		seen[name] = true
		explicit = append(explicit, entry{name: name, key: mv.Key, value: mv.Value})
	}
	for _, e := range merged {
		if !seen[e.name] {
			seen[e.name] = true
			explicit = append(explicit, e)
		}
	}
	return explicit
}

func (d *nodeDecoder) mergeEntries(v ast.Node, path string, depth int) []entry {
	if !d.visit(v, path) {
		return nil
	}
	if depth > maxDepth {
		d.fail(v, path, "too deeply nested")
		return nil
	}
	n, ok := d.resolve(v, path, depth)
	if !ok {
		return nil
	}
	switch x := n.(type) {
	case *ast.MappingNode:
		return d.entries(x, path, depth+1)
	case *ast.SequenceNode:
		var out []entry
		for _, e := range x.Values {
			out = append(out, d.mergeEntries(e, path, depth+1)...)
		}
		return out
	}
	d.fail(v, path, "merge key << wants a mapping or a list of mappings, not %s", kindOf(n))
	return nil
}

// visit counts a node against the document's budget; false once spent.
// Aliases and merge keys can make a small text a huge tree; the budget
// keeps that cheap.
func (d *nodeDecoder) visit(n ast.Node, path string) bool {
	if d.exhausted {
		return false
	}
	d.visits++
	if d.visits > maxNodeVisits {
		d.exhausted = true
		d.fail(n, path, "document is too large (too many nodes once aliases are expanded)")
		return false
	}
	return true
}

// decode decodes node n, found at path (under key, nil for list entries),
// into dst.
func (d *nodeDecoder) decode(n ast.Node, key ast.Node, path string, dst reflect.Value, depth int) {
	if !d.visit(n, path) {
		return
	}
	if depth > maxDepth {
		d.fail(n, path, "document is too deeply nested")
		return
	}
	d.index[path] = nodeRef{key: key, value: n}
	n, ok := d.resolve(n, path, depth)
	if !ok {
		return
	}
	if _, isNull := n.(*ast.NullNode); isNull || n == nil {
		dst.Set(reflect.Zero(dst.Type()))
		return
	}
	if d.decodeConfigType(n, path, dst, depth) {
		return
	}

	switch dst.Kind() {
	case reflect.Pointer:
		v := reflect.New(dst.Type().Elem())
		d.decode(n, key, path, v.Elem(), depth+1)
		dst.Set(v)
	case reflect.Struct:
		d.decodeStruct(n, path, dst, depth)
	case reflect.Map:
		d.decodeMap(n, path, dst, depth)
	case reflect.Slice:
		d.decodeSlice(n, path, dst, depth)
	case reflect.String:
		d.decodeString(n, path, dst)
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.fail(n, path, "expected true or false, got %s", kindOf(n))
			return
		}
		dst.SetBool(b.Value)
	case reflect.Int, reflect.Int64, reflect.Int32:
		d.decodeInt(n, path, dst)
	default:
		// Not reached for the config types; a new field type needs a case.
		d.fail(n, path, "cannot decode into %s", dst.Type())
	}
}

// decodeConfigType decodes the config package's own scalar types
// (Duration, Secret, SecretList); false when dst is none of them.
func (d *nodeDecoder) decodeConfigType(n ast.Node, path string, dst reflect.Value, depth int) bool {
	switch p := dst.Addr().Interface().(type) {
	case *Duration:
		d.decodeDuration(n, path, p)
	case *Secret:
		if s, ok := scalarText(n); ok {
			*p = NewSecret(s)
		} else {
			d.fail(n, path, "expected a string, got %s", kindOf(n))
		}
	case *SecretList:
		d.decodeSecretList(n, path, p, depth)
	default:
		return false
	}
	return true
}

func (d *nodeDecoder) decodeMap(n ast.Node, path string, dst reflect.Value, depth int) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.fail(n, path, "expected a mapping, got %s", kindOf(n))
		return
	}
	out := reflect.MakeMap(dst.Type())
	for _, e := range d.entries(m, path, depth) {
		v := reflect.New(dst.Type().Elem()).Elem()
		d.decode(e.value, e.key, joinPath(path, e.name), v, depth+1)
		out.SetMapIndex(reflect.ValueOf(e.name).Convert(dst.Type().Key()), v)
	}
	dst.Set(out)
}

func (d *nodeDecoder) decodeSlice(n ast.Node, path string, dst reflect.Value, depth int) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.fail(n, path, "expected a list, got %s", kindOf(n))
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(seq.Values), len(seq.Values))
	for i, e := range seq.Values {
		d.decode(e, nil, fmt.Sprintf("%s[%d]", path, i), out.Index(i), depth+1)
	}
	dst.Set(out)
}

func (d *nodeDecoder) decodeString(n ast.Node, path string, dst reflect.Value) {
	s, ok := scalarText(n)
	if !ok {
		hint := ""
		if _, isBool := n.(*ast.BoolNode); isBool {
			hint = " (quote it to make it a string)"
		}
		d.fail(n, path, "expected a string, got %s%s", kindOf(n), hint)
		return
	}
	dst.SetString(s)
}

func (d *nodeDecoder) decodeInt(n ast.Node, path string, dst reflect.Value) {
	i, ok := n.(*ast.IntegerNode)
	if !ok {
		d.fail(n, path, "expected an integer, got %s", kindOf(n))
		return
	}
	var v int64
	switch x := i.Value.(type) {
	case int64:
		v = x
	case uint64:
		if x > math.MaxInt64 {
			d.fail(n, path, "integer %s is out of range", i.Token.Value)
			return
		}
		v = int64(x)
	}
	if dst.OverflowInt(v) {
		d.fail(n, path, "integer %s is out of range", i.Token.Value)
		return
	}
	dst.SetInt(v)
}

func (d *nodeDecoder) decodeDuration(n ast.Node, path string, p *Duration) {
	if i, ok := n.(*ast.IntegerNode); ok && i.Token.Value == "0" {
		*p = 0
		return
	}
	s, ok := n.(*ast.StringNode)
	if !ok {
		if lit, isLit := n.(*ast.LiteralNode); isLit && lit.Value != nil {
			s, ok = lit.Value, true
		}
	}
	if !ok {
		d.fail(n, path, "expected a duration such as 30s, 5m or 30d, got %s", kindOf(n))
		return
	}
	v, err := ParseDuration(strings.TrimSpace(s.Value))
	if err != nil {
		d.fail(n, path, "%s", err)
		return
	}
	*p = v
}

func (d *nodeDecoder) decodeSecretList(n ast.Node, path string, p *SecretList, depth int) {
	if s, ok := scalarText(n); ok {
		*p = SecretList{NewSecret(s)}
		return
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.fail(n, path, "expected a string or a list of strings, got %s", kindOf(n))
		return
	}
	out := make(SecretList, len(seq.Values))
	for i, e := range seq.Values {
		d.decode(e, nil, fmt.Sprintf("%s[%d]", path, i), reflect.ValueOf(&out[i]).Elem(), depth+1)
	}
	*p = out
}

// structField is a field of a config struct and its YAML name.
type structField struct {
	name  string
	index int
}

func yamlFields(t reflect.Type) []structField {
	var out []structField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, structField{name: name, index: i})
	}
	return out
}

func (d *nodeDecoder) decodeStruct(n ast.Node, path string, dst reflect.Value, depth int) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.fail(n, path, "expected a mapping, got %s", kindOf(n))
		return
	}
	fields := yamlFields(dst.Type())
	for _, e := range d.entries(m, path, depth) {
		idx := -1
		for _, f := range fields {
			if f.name == e.name {
				idx = f.index
				break
			}
		}
		if idx < 0 {
			d.errorf(e.key, path, "unknown field %s%s", strconv.Quote(e.name), suggest(e.name, fields))
			continue
		}
		d.decode(e.value, e.key, joinPath(path, e.name), dst.Field(idx), depth+1)
	}
}

// suggest proposes the known field closest to an unknown one.
func suggest(name string, fields []structField) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if dist := editDistance(strings.ToLower(name), f.name); dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best == "" {
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.name
		}
		return " (known fields: " + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
