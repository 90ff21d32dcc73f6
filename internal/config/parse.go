package config

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Parse parses and validates a multi-document blackwell.yaml. filename is
// used in error positions. getenv (os.LookupEnv, or a secret store) resolves
// the ${VAR} references of secrets; a reference to an unset variable is an
// error. A nil getenv checks the references' syntax only and leaves them
// unresolved (for validating a file where its secrets are not at hand;
// resolve later with StackSpec.ResolveSecrets).
//
// The error, when not nil, is an *Errors listing every problem of the file,
// each with file:line:column; the Config is then nil.
func Parse(filename string, data []byte, getenv func(string) (string, bool)) (*Config, error) {
	return ParseWith(filename, data, getenv, Rules{})
}

// ParseWith is Parse under rules: what the document's author may declare
// (command builds, which secrets, where credentials go). Parse uses the
// zero Rules: the operator's own file without command builds.
func ParseWith(filename string, data []byte, getenv func(string) (string, bool), rules Rules) (*Config, error) {
	var errs Errors
	p := fileParser{file: filename, getenv: getenv, errs: &errs, rules: rules}
	cfg := p.parse(data)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Load reads and parses a file; see Parse. A file that cannot be read gives
// the wrapped os error rather than an *Errors.
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	return LoadWith(path, getenv, Rules{})
}

// LoadWith reads and parses a file under rules; see ParseWith.
func LoadWith(path string, getenv func(string) (string, bool), rules Rules) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return ParseWith(path, data, getenv, rules)
}

// fileParser holds the state of one Parse.
type fileParser struct {
	file   string
	getenv func(string) (string, bool)
	errs   *Errors
	rules  Rules

	stacks    []parsedDoc[Stack]
	policies  []parsedDoc[Policy]
	channels  []parsedDoc[NotificationChannel]
	orgs      []parsedDoc[OrganizationPolicy]
	pipelines []parsedDoc[Pipeline]
}

// parsedDoc is a decoded document and its reporter (for positions in
// cross-document checks).
type parsedDoc[T any] struct {
	v T
	r reporter
}

// chunk is the text of one YAML document and the number of lines before it.
type chunk struct {
	lineOffset int
	text       []byte
}

// splitDocuments cuts a YAML stream at its document markers (a line that
// starts with "---" or "..."), so that each document is parsed alone: a
// syntax error then costs one document, not the rest of the file, and empty
// documents cannot hide the ones after them. YAML forbids these markers at
// the start of a line inside any content, so the cut is exact.
func splitDocuments(data []byte) []chunk {
	var out []chunk
	lines := bytes.SplitAfter(data, []byte("\n"))
	cur := chunk{}
	flush := func(next int) {
		if len(bytes.TrimSpace(cur.text)) > 0 {
			out = append(out, cur)
		}
		cur = chunk{lineOffset: next}
	}
	for i, line := range lines {
		switch {
		case isMarker(line, "---"):
			flush(i)
			rest := append([]byte("   "), line[3:]...)
			cur.text = append(cur.text, rest...)
		case isMarker(line, "..."):
			flush(i + 1)
		default:
			cur.text = append(cur.text, line...)
		}
	}
	flush(len(lines))
	return out
}

func isMarker(line []byte, marker string) bool {
	if !bytes.HasPrefix(line, []byte(marker)) {
		return false
	}
	if len(line) == 3 {
		return true
	}
	switch line[3] {
	case ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// onlyCommentsOrDirectives reports whether a chunk holds no content.
func onlyCommentsOrDirectives(text []byte) bool {
	for _, line := range bytes.Split(text, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' && t[0] != '%' {
			return false
		}
	}
	return true
}

// positionedError is the shape of goccy's errors.
type positionedError interface {
	GetToken() *token.Token
	GetMessage() string
}

// syntaxError turns a goccy parse error into an Error.
func syntaxError(file string, lineOffset int, err error) Error {
	e := Error{File: file, Line: lineOffset + 1, Column: 1, Message: "invalid YAML: " + firstLine(err.Error())}
	if pe, ok := err.(positionedError); ok {
		e.Message = "invalid YAML: " + pe.GetMessage()
		if tk := pe.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line+lineOffset, tk.Position.Column
		}
	}
	return e
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// maxDocumentBytes bounds one YAML document (a file may hold many): a
// Stack of a real composition is a few kilobytes.
const maxDocumentBytes = 1 << 20

// parseYAML parses one chunk, turning a panic of the YAML parser on hostile
// input into an error. Before the parser sees it, the chunk is checked to
// be at most maxDocumentBytes and nested at most maxDepth levels: goccy's
// parser takes memory that grows with the square of the nesting (16 KB of
// "[" took 100 MB), so a deep document is refused from its tokens, which
// cost memory in proportion to the text.
func parseYAML(text []byte) (f *ast.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("unparsable document (%v)", p)
		}
	}()
	if len(text) > maxDocumentBytes {
		return nil, &limitError{msg: fmt.Sprintf("the document is larger than %d bytes", maxDocumentBytes)}
	}
	tokens := lexer.Tokenize(string(text))
	if err := checkNesting(tokens); err != nil {
		return nil, err
	}
	return parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
}

// limitError is a document refused by a pre-parse check; it has the shape
// of goccy's errors (positionedError), so it is reported with a position.
type limitError struct {
	tk  *token.Token
	msg string
}

func (e *limitError) Error() string          { return e.msg }
func (e *limitError) GetToken() *token.Token { return e.tk }
func (e *limitError) GetMessage() string     { return e.msg }

// checkNesting refuses tokens nested deeper than maxDepth. The depth of a
// token is its flow depth ("[" and "{" not yet closed) plus its block
// depth: the number of enclosing block indentation columns, where each
// line's first token and each "-" or "?" indicator (several may share a
// line: "- - - x") opens a column. It counts at least the depth of the
// nodes the parser would build: quoted and commented brackets are already
// text in the tokens.
func checkNesting(tokens token.Tokens) error {
	var (
		flow    int
		columns []int // block indentation columns, increasing
		line    = -1
	)
	for _, tk := range tokens {
		if tk == nil || tk.Position == nil {
			continue
		}
		first := tk.Position.Line != line
		line = tk.Position.Line
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			if flow > 0 {
				flow--
			}
		case token.CommentType:
			continue
		}
		if flow == 0 || (first && flow == 1 && (tk.Type == token.SequenceStartType || tk.Type == token.MappingStartType)) {
			if first || tk.Type == token.SequenceEntryType || tk.Type == token.MappingKeyType {
				col := tk.Position.Column
				for len(columns) > 0 && columns[len(columns)-1] >= col {
					columns = columns[:len(columns)-1]
				}
				columns = append(columns, col)
			}
		}
		if flow+len(columns) > maxDepth {
			return &limitError{tk: tk, msg: fmt.Sprintf("the document is nested deeper than %d levels", maxDepth)}
		}
	}
	return nil
}

func (p *fileParser) parse(data []byte) *Config {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	// YAML breaks lines at CR LF, LF and a lone CR; make them all LF so that
	// document markers are found alike (line numbers do not change).
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	for _, c := range splitDocuments(data) {
		if onlyCommentsOrDirectives(c.text) {
			continue
		}
		f, err := parseYAML(c.text)
		if err != nil {
			p.errs.add(syntaxError(p.file, c.lineOffset, err))
			continue
		}
		for _, doc := range f.Docs {
			if doc == nil || doc.Body == nil {
				continue
			}
			p.document(doc.Body, c.lineOffset)
		}
	}
	p.crossChecks()
	p.appChecks()

	cfg := &Config{
		Stacks:   make([]Stack, 0, len(p.stacks)),
		Policies: make([]Policy, 0, len(p.policies)),
		Channels: make([]NotificationChannel, 0, len(p.channels)),
		// Pipelines stays nil without one, so a Config without applications
		// encodes as it did before them.
	}
	for _, s := range p.stacks {
		cfg.Stacks = append(cfg.Stacks, s.v)
	}
	for _, s := range p.policies {
		cfg.Policies = append(cfg.Policies, s.v)
	}
	for _, s := range p.channels {
		cfg.Channels = append(cfg.Channels, s.v)
	}
	for _, s := range p.pipelines {
		cfg.Pipelines = append(cfg.Pipelines, s.v)
	}
	p.places(cfg)
	return cfg
}

// header reads apiVersion and kind; kind is "" when the document cannot be
// decoded further.
func (p *fileParser) header(d *nodeDecoder, r reporter, body ast.Node) (kind string) {
	root, ok := d.resolve(body, "", 0)
	if !ok {
		return ""
	}
	m, ok := root.(*ast.MappingNode)
	if !ok {
		d.errorf(root, "", "a document must be a mapping with apiVersion, kind, metadata and spec, not %s", kindOf(root))
		return ""
	}
	d.index[""] = nodeRef{value: m}
	var apiNode, kindNode ast.Node
	for _, e := range d.entries(m, "", 0) {
		switch e.name {
		case "apiVersion":
			apiNode = e.value
			d.index["apiVersion"] = nodeRef{key: e.key, value: e.value}
		case "kind":
			kindNode = e.value
			d.index["kind"] = nodeRef{key: e.key, value: e.value}
		}
	}
	kinds := []string{KindStack, KindReconciliationPolicy, KindNotificationChannel, KindOrganizationPolicy, KindPipeline}
	if apiNode == nil {
		r.value("apiVersion", "is required (%s)", APIVersion)
	} else if n, ok := d.resolve(apiNode, "apiVersion", 0); ok {
		if v, ok := scalarText(n); !ok || v != APIVersion {
			r.value("apiVersion", "unsupported apiVersion %s (want %s)", describe(n), APIVersion)
		}
	}
	if kindNode == nil {
		r.value("kind", "is required (%s)", oneOf(kinds))
		return ""
	}
	n, ok := d.resolve(kindNode, "kind", 0)
	if !ok {
		return ""
	}
	v, _ := scalarText(n)
	for _, k := range kinds {
		if v == k {
			return k
		}
	}
	r.value("kind", "unknown kind %s (want %s)", describe(n), oneOf(kinds))
	return ""
}

// describe quotes a scalar or names a node's type.
func describe(n ast.Node) string {
	if v, ok := scalarText(n); ok {
		return fmt.Sprintf("%q", v)
	}
	return kindOf(n)
}

func (p *fileParser) document(body ast.Node, lineOffset int) {
	d := newNodeDecoder(p.file, lineOffset, p.errs, body)
	r := newReporter(d)
	switch p.header(d, r, body) {
	case KindStack:
		var s Stack
		d.decode(body, nil, "", reflect.ValueOf(&s).Elem(), 0)
		s.Spec.resolveSecrets(p.getenv, func(path, msg string) { r.value("spec."+path, "%s", msg) })
		s.Spec.App = s.Metadata.App
		r.checkStack(&s)
		r.checkRules(&s, p.rules)
		p.stacks = append(p.stacks, parsedDoc[Stack]{v: s, r: r})
	case KindReconciliationPolicy:
		var pol Policy
		d.decode(body, nil, "", reflect.ValueOf(&pol).Elem(), 0)
		pol.Spec.resolveSecrets(p.getenv, func(path, msg string) { r.value("spec."+path, "%s", msg) })
		r.checkPolicy(&pol)
		p.policies = append(p.policies, parsedDoc[Policy]{v: pol, r: r})
	case KindNotificationChannel:
		var c NotificationChannel
		d.decode(body, nil, "", reflect.ValueOf(&c).Elem(), 0)
		c.Spec.resolveSecrets(p.getenv, func(path, msg string) { r.value("spec."+path, "%s", msg) })
		r.checkChannel(&c)
		p.channels = append(p.channels, parsedDoc[NotificationChannel]{v: c, r: r})
	case KindOrganizationPolicy:
		var o OrganizationPolicy
		d.decode(body, nil, "", reflect.ValueOf(&o).Elem(), 0)
		o.Spec.Defaults.resolveSecrets(p.getenv, func(path, msg string) { r.value("spec.defaults."+path, "%s", msg) })
		r.checkOrganization(&o)
		p.orgs = append(p.orgs, parsedDoc[OrganizationPolicy]{v: o, r: r})
	case KindPipeline:
		var pl Pipeline
		d.decode(body, nil, "", reflect.ValueOf(&pl).Elem(), 0)
		r.checkPipeline(&pl)
		p.pipelines = append(p.pipelines, parsedDoc[Pipeline]{v: pl, r: r})
	}
}

// where formats the position of a path of a document for a message.
func (r reporter) where(path string) string {
	line, col := r.d.position(r.node(path, false))
	if r.d.file == "" {
		return fmt.Sprintf("%d:%d", line, col)
	}
	return fmt.Sprintf("%s:%d:%d", r.d.file, line, col)
}

// crossChecks finds duplicates and dangling references across documents.
func (p *fileParser) crossChecks() {
	stacks := map[string]reporter{}
	for _, s := range p.stacks {
		m := s.v.Metadata
		if m.ClientID == "" || m.StackID == "" {
			continue
		}
		if first, dup := stacks[m.Key()]; dup {
			s.r.value("metadata.stack_id", "Stack %s is already declared at %s", m.Key(), first.where("metadata.stack_id"))
			continue
		}
		stacks[m.Key()] = s.r
	}

	channels := map[string]reporter{}
	for _, c := range p.channels {
		name := c.v.Metadata.Name
		if name == "" {
			continue
		}
		if first, dup := channels[name]; dup {
			c.r.value("metadata.name", "NotificationChannel %q is already declared at %s", name, first.where("metadata.name"))
			continue
		}
		channels[name] = c.r
	}

	org := p.organization()
	policies := map[string]reporter{}
	for _, pol := range p.policies {
		for _, path := range LockViolations(org, &pol.v.Spec) {
			pol.r.value("spec."+path, "%s is locked by the OrganizationPolicy: a client or stack policy may not set it otherwise", path)
		}
		m := pol.v.Metadata
		if m.ClientID == "" {
			continue
		}
		scope, path := "client "+m.ClientID, "metadata.client_id"
		if m.StackID != "" {
			scope, path = "stack "+m.ClientID+"/"+m.StackID, "metadata.stack_id"
			if _, ok := stacks[m.ClientID+"/"+m.StackID]; !ok {
				pol.r.value(path, "no Stack %s/%s is declared in this file", m.ClientID, m.StackID)
			}
		}
		if first, dup := policies[scope]; dup {
			pol.r.value(path, "a ReconciliationPolicy for %s is already declared at %s", scope, first.where(path))
		} else {
			policies[scope] = pol.r
		}
		for i, c := range pol.v.Spec.Notifications.Channels {
			if c.Ref == "" {
				continue
			}
			if _, ok := channels[c.Ref]; !ok {
				pol.r.value(fmt.Sprintf("spec.notifications.channels[%d].ref", i), "no NotificationChannel named %q is declared", c.Ref)
			}
		}
	}
}

// organization is the OrganizationPolicy the file's policies are checked
// against: the file's own (a second one is an error), else Rules'.
func (p *fileParser) organization() *OrganizationSpec {
	for i, o := range p.orgs {
		if i > 0 {
			o.r.value("kind", "an OrganizationPolicy is already declared at %s", p.orgs[0].r.where("kind"))
		}
	}
	if len(p.orgs) > 0 {
		return &p.orgs[0].v.Spec
	}
	return p.rules.Organization
}

// places records where documents and the OrganizationPolicy's rules and
// exceptions were written (Config.Places).
func (p *fileParser) places(cfg *Config) {
	cfg.Places = map[string]Place{}
	at := func(r reporter, path string) Place {
		line, col := r.d.position(r.node(path, false))
		return Place{File: p.file, Line: line, Column: col}
	}
	for _, s := range p.stacks {
		cfg.Places[PlaceKey(KindStack, s.v.Metadata.Key())] = at(s.r, "metadata")
	}
	for _, pol := range p.policies {
		key := pol.v.Metadata.ClientID
		if pol.v.Metadata.StackID != "" {
			key += "/" + pol.v.Metadata.StackID
		}
		cfg.Places[PlaceKey(KindReconciliationPolicy, key)] = at(pol.r, "metadata")
	}
	if len(p.orgs) == 0 {
		return
	}
	o := p.orgs[0]
	cfg.Organization = &o.v
	cfg.Places[PlaceKey(KindOrganizationPolicy, "")] = at(o.r, "kind")
	for i := range o.v.Spec.Rules {
		path := fmt.Sprintf("spec.rules[%d].expression", i)
		cfg.Places[PlaceKey(KindOrganizationPolicy, path)] = at(o.r, path)
	}
	for i := range o.v.Spec.Exceptions {
		path := fmt.Sprintf("spec.exceptions[%d].expires", i)
		cfg.Places[PlaceKey(KindOrganizationPolicy, path)] = at(o.r, path)
	}
}
