// Package compliance evaluates compliance rules: CEL expressions of an
// OrganizationPolicy over a stack's desired state, effective policy and
// observed state (docs/POLICY.md). Compile checks a rule set; Evaluate
// judges one stack, purely; Recorder keeps the results as a timeline in
// the store.
package compliance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/blackwellio/blackwell/internal/config"
)

// Status is the outcome of a rule for a stack.
type Status string

// The statuses of a rule's evaluation.
const (
	// Compliant: the expression is true.
	Compliant Status = "compliant"
	// Noncompliant: the expression is false.
	Noncompliant Status = "noncompliant"
	// Unknown: the expression needs what is not known (the observed
	// state of a stack no pass has observed) or its evaluation failed
	// (over the cost budget, a missing map key). Never counted as
	// compliant.
	Unknown Status = "unknown"
	// Excepted: the expression is false, but an exception that has not
	// expired exempts the stack.
	Excepted Status = "excepted"
)

// CostBudget bounds the cost of one evaluation of a rule (CEL's cost
// units, about one per operation). A rule whose estimated worst case
// exceeds it does not compile, and an evaluation that reaches it stops
// (Unknown).
const CostBudget = 100_000

// untrackedCost is the estimated worst case under which a rule runs
// without tracking its cost.
const untrackedCost = 1_000

// maxCollection is the size assumed for a list, map or string of the
// variables when a rule's worst-case cost is estimated; providers has at
// most the three roles.
const maxCollection = 256

// Engine is a compiled rule set.
type Engine struct {
	org   *config.OrganizationSpec
	rules []compiled
	// ids are the rules' ids, in order, and set their digest: engines
	// compiled from the same rules have the same set, so that a Memo
	// outlives a new OrganizationPolicy that keeps its rules.
	ids []string
	set [sha256.Size]byte
	// shared keeps the outcomes of the rules that do not read the stack
	// by what they read (the policy, the observation), for every stack.
	shared sharedOutcomes
	// adapter is the environment's, which celViews convert with.
	adapter types.Adapter
}

type compiled struct {
	rule    config.ComplianceRule
	prog    cel.Program
	partial cel.Program // observed unknown
	// id is what the outcome depends on besides the variables
	// (outcomeID).
	id string
	// reads are the variables the expression refers to. A rule that
	// reads observed may change on every pass; the others change only
	// with the desired state or the policy (Memo). A rule that does not
	// read stack is a function of the policy and the observation alone,
	// the same for every stack that has them (Engine.shared).
	reads vars
	// fields are the stack's fields the expression reads; when
	// projected, its outcome depends on the stack through them alone and
	// is shared between stacks whose fields are equal (project.go).
	fields    fieldMask
	projected bool
}

// vars is a set of the variables of rules.
type vars uint8

const (
	readsStack vars = 1 << iota
	readsPolicy
	readsObserved
)

// Input is what a rule judges of one stack. Observed is nil when no pass
// has observed the stack (or its desired state has changed since).
type Input struct {
	Stack    StackView
	Policy   PolicyView
	Observed *ObservedView
	// Key, when not empty, changes whenever Stack or Policy does (the
	// desired hash, the environment and a hash of the policy): with a
	// Memo, the rules that do not read observed are judged again only
	// when it changes.
	Key string
	// ObservedKey, when not empty, is Observed.Key(): with a Memo and an
	// unchanged Key, the rules that read observed are judged again only
	// when it changes, and the rules that read observed but not stack
	// are judged once for every stack whose observation (and policy, if
	// they read it) has the same key.
	ObservedKey string
}

// Memo keeps the outcomes of one stack's rules, for the stack's next
// evaluation (EvaluateMemo), also by an engine compiled anew from the
// same rules (or some of them: the outcomes of the rules it keeps are
// kept). The zero Memo is empty.
type Memo struct {
	set         [sha256.Size]byte
	ids         []string // the rules out holds outcomes of, in order (an engine's ids)
	key         string
	observedKey string
	out         []outcome // by rule, as ids
	// stack and policy are digests of the views the outcomes were judged
	// on: when the key changes, the outcomes of rules that read only what
	// did not change are kept.
	stack, policy [sha256.Size]byte
}

// outcome is a judged rule's status and message; the zero outcome is
// not judged. Memos keep one per rule and stack, so it is kept small.
type outcome struct {
	message string
	status  statusCode
}

// statusCode is a Status as a small number (0: not judged).
type statusCode uint8

const (
	notJudged statusCode = iota
	codeCompliant
	codeNoncompliant
	codeUnknown
)

var statusOfCode = [...]Status{codeCompliant: Compliant, codeNoncompliant: Noncompliant, codeUnknown: Unknown}

// newOutcome is a judged outcome.
func newOutcome(st Status, message string) outcome {
	c := codeUnknown
	switch st {
	case Compliant:
		c = codeCompliant
	case Noncompliant:
		c = codeNoncompliant
	}
	return outcome{message: message, status: c}
}

// judged reports whether o is a rule's outcome (not the zero outcome).
func (o outcome) judged() bool { return o.status != notJudged }

// Status is o's status.
func (o outcome) Status() Status { return statusOfCode[o.status] }

// sharedOutcomes are outcomes of rules, by rule and a key of what the
// rule reads (judgeShared); a rule's are cleared when they reach
// maxShared. A rule whose outcomes are seldom found again (every stack's
// view of what it reads its own) is not shared for a while: building its
// keys and keeping its outcomes would cost more than judging it.
type sharedOutcomes struct {
	mu sync.RWMutex
	m  []map[string]outcome // by rule
	// stats are by rule, made with the engine (read without the lock).
	stats []shareStats
}

// shareStats count a rule's lookups and hits since its sharing was last
// judged (one counter, so that a lookup costs one atomic addition: hits
// in the high 32 bits, lookups in the low ones; a window of shareWindow
// lookups cannot overflow either), and how many more judgements it is
// not shared for.
type shareStats struct {
	counts, off atomic.Int64
}

const oneHit = 1 << 32

// split is a counts value's lookups and hits.
func split(counts int64) (lookups, hits int64) { return counts & (oneHit - 1), counts >> 32 }

const (
	maxShared = 1 << 14
	// Every shareWindow lookups, a rule that found fewer than one in
	// shareMinHits of them is not shared for its next shareOff
	// judgements; then it is shared (and counted) again. One that found
	// none in its first shareWindow/8 is not shared at once (a rule
	// found once in shareMinHits lookups misses 512 in a row with a
	// probability of e^-33).
	shareWindow  = 4096
	shareMinHits = 16
	shareOff     = 1 << 16
)

// worth reports whether rule's outcomes are shared now (a judgement
// that is not counts towards turning sharing on again).
func (s *sharedOutcomes) worth(rule int) bool {
	st := &s.stats[rule]
	if st.off.Load() <= 0 {
		return true
	}
	st.off.Add(-1)
	return false
}

// get looks rule's outcome up under s's read lock, which it leaves held
// for ev's next lookups (ev.release releases it): an evaluation whose
// rules are found one after the other locks once.
func (s *sharedOutcomes) get(rule int, content []byte, ev *evaluation) (outcome, bool) {
	if ev.readLocked == nil {
		s.mu.RLock()
		ev.readLocked = &s.mu
	}
	if rule >= len(s.m) {
		return outcome{}, false
	}
	o, ok := s.m[rule][string(content)]
	add := int64(1)
	if ok {
		add += oneHit
	}
	st := &s.stats[rule]
	if n, hits := split(st.counts.Add(add)); n >= 1<<30 {
		// No put for 2^30 lookups (every one found): halved, the ratio
		// kept and neither count near overflowing. Lost to a concurrent
		// addition, it is done at the next lookup.
		st.counts.CompareAndSwap(n|hits<<32, n/2|(hits/2)<<32)
	}
	return o, ok
}

func (s *sharedOutcomes) put(rule int, content []byte, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rule >= len(s.m) {
		s.m = append(s.m, make([]map[string]outcome, rule+1-len(s.m))...)
	}
	st := &s.stats[rule]
	if n, hits := split(st.counts.Load()); n >= shareWindow || (n >= shareWindow/8 && hits == 0) {
		if hits*shareMinHits < n {
			st.off.Store(shareOff)
			s.m[rule] = nil
		}
		st.counts.Store(0)
	}
	if st.off.Load() > 0 {
		return
	}
	if s.m[rule] == nil || len(s.m[rule]) >= maxShared {
		s.m[rule] = make(map[string]outcome)
	}
	s.m[rule][string(content)] = o
}

// reset forgets every shared outcome (benchmarks of a first pass; not
// while the engine evaluates).
func (s *sharedOutcomes) reset() {
	s.mu.Lock()
	s.m, s.stats = nil, make([]shareStats, len(s.stats))
	s.mu.Unlock()
}

// Result is one rule's outcome for one stack.
type Result struct {
	Rule   string `json:"rule"`
	Mode   string `json:"mode"`
	Status Status `json:"status"`
	// Message says why: the rule's message when it fails, the reason when
	// unknown, the exception when excepted.
	Message   string                `json:"message,omitempty"`
	Exception *config.RuleException `json:"exception,omitempty"`
}

// newEnv is the CEL environment of rules: variables stack, policy and
// observed, typed, so that a field that does not exist is a compile error.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(ext.ParseStructTag("json"),
			reflect.TypeFor[StackView](), reflect.TypeFor[PolicyView](), reflect.TypeFor[ObservedView]()),
		cel.Variable("stack", cel.ObjectType("compliance.StackView")),
		cel.Variable("policy", cel.ObjectType("compliance.PolicyView")),
		cel.Variable("observed", cel.ObjectType("compliance.ObservedView")),
		ext.Strings(),
		withViewProvider(), // celview.go
	)
}

// Compile compiles an organisation's rules. where gives the place of a
// path of the OrganizationPolicy ("spec.rules[0].expression") for errors,
// which come as a *config.Errors: a rule that does not parse, refers to a
// field or function that does not exist, is not a bool, or may cost more
// than CostBudget. A nil org compiles to an engine without rules.
func Compile(org *config.OrganizationSpec, where func(path string) config.Place) (*Engine, error) {
	e := &Engine{org: org}
	if org == nil {
		return e, nil
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("compliance: CEL environment: %w", err)
	}
	e.adapter = env.CELTypeAdapter()
	var errs config.Errors
	for i, r := range org.Rules {
		at := where(fmt.Sprintf("spec.rules[%d].expression", i))
		c, problems := compileRule(env, r)
		for _, msg := range problems {
			errs = append(errs, at.Errorf("spec.rules[%d].expression: rule %q: %s", i, r.Name, msg))
		}
		if len(problems) == 0 {
			e.rules = append(e.rules, c)
		}
	}
	if len(errs) > 0 {
		return nil, &errs
	}
	e.shared.stats = make([]shareStats, len(e.rules))
	h := sha256.New()
	for _, c := range e.rules {
		e.ids = append(e.ids, c.id)
		h.Write([]byte(c.id))
		h.Write([]byte{0xff}) // not in a UTF-8 string
	}
	h.Sum(e.set[:0])
	return e, nil
}

// compileRule compiles one rule, or says what is wrong with it.
func compileRule(env *cel.Env, r config.ComplianceRule) (compiled, []string) {
	ast, iss := env.Compile(r.Expression)
	if iss.Err() != nil {
		var out []string
		for _, e := range iss.Errors() {
			loc := e.Location
			out = append(out, fmt.Sprintf("line %d, column %d of the expression: %s", loc.Line(), loc.Column()+1, e.Message))
		}
		return compiled{}, out
	}
	if ast.OutputType() != cel.BoolType {
		return compiled{}, []string{fmt.Sprintf("the expression is %s; a rule must be a bool (true when the stack complies)", ast.OutputType())}
	}
	est, err := env.EstimateCost(ast, sizeEstimator{})
	if err != nil {
		return compiled{}, []string{"estimate cost: " + err.Error()}
	}
	if est.Max > CostBudget {
		return compiled{}, []string{fmt.Sprintf("may cost up to %d, over the budget of %d (nested loops over collections of up to %d entries?)", est.Max, CostBudget, maxCollection)}
	}
	// Tracking the cost of an evaluation costs as much as a cheap rule
	// itself: a rule cheap even with collections of maxCollection entries
	// runs untracked (its cost grows at most linearly with the stack);
	// one with loops runs under CostBudget whatever the collections hold.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if est.Max > untrackedCost {
		opts = append(opts, cel.CostLimit(CostBudget))
	}
	prog, err := env.Program(ast, opts...)
	if err != nil {
		return compiled{}, []string{err.Error()}
	}
	partial, err := env.Program(ast, append(opts, cel.EvalOptions(cel.OptOptimize, cel.OptPartialEval))...)
	if err != nil {
		return compiled{}, []string{err.Error()}
	}
	c := compiled{rule: r, prog: prog, partial: partial, id: outcomeID(r), reads: readsOf(ast)}
	if c.reads&readsStack != 0 {
		c.fields, c.projected = stackFieldsOf(ast)
	}
	return c, nil
}

// readsOf is the set of the variables a checked expression refers to.
func readsOf(ast *cel.Ast) vars {
	var v vars
	for _, ref := range ast.NativeRep().ReferenceMap() {
		switch ref.Name {
		case "stack":
			v |= readsStack
		case "policy":
			v |= readsPolicy
		case "observed":
			v |= readsObserved
		}
	}
	return v
}

// Rules are the engine's rules, in declaration order.
func (e *Engine) Rules() []config.ComplianceRule {
	out := make([]config.ComplianceRule, len(e.rules))
	for i, c := range e.rules {
		out[i] = c.rule
	}
	return out
}

// Organization is the OrganizationPolicy the engine was compiled from (nil
// when none).
func (e *Engine) Organization() *config.OrganizationSpec { return e.org }

// Evaluate judges a stack against every rule that matches it, at now (the
// time exceptions are judged at: an expired exception exempts nothing).
func (e *Engine) Evaluate(in Input, now time.Time) []Result {
	return e.EvaluateMemo(in, now, nil)
}

// Fresh reports whether memo holds every outcome for an input of these
// keys: EvaluateMemo would then evaluate nothing and read of the input
// only the stack's client, id and environment.
func (e *Engine) Fresh(memo *Memo, key, observedKey string) bool {
	return memo != nil && memo.set == e.set && memo.out != nil && key != "" && memo.key == key &&
		observedKey != "" && memo.observedKey == observedKey
}

// EvaluateMemo is Evaluate reusing, from memo, the outcomes of the rules
// that do not read the observed state when in.Key is memo's, and of those
// that do when in.ObservedKey is memo's too (a rule is a pure function of
// its three variables); it leaves in memo this evaluation's (a nil memo:
// none kept). The rules that do not read the stack are judged once for
// every policy and observation (Input.ObservedKey), whatever the stack.
// Exceptions are judged at now every time.
func (e *Engine) EvaluateMemo(in Input, now time.Time, memo *Memo) []Result {
	if len(e.rules) == 0 {
		return nil
	}
	return e.EvaluateAppend(make([]Result, 0, len(e.rules)), in, now, memo)
}

// EvaluateAppend is EvaluateMemo appending the results to dst (and
// returning the extended slice), so that a caller evaluating stack after
// stack can reuse one slice: nothing of dst is kept by the engine, and
// dst's elements before len(dst) are left as they are.
func (e *Engine) EvaluateAppend(dst []Result, in Input, now time.Time, memo *Memo) []Result {
	if len(e.rules) == 0 {
		return dst
	}
	if memo != nil {
		memo.adopt(e)
	}
	var ev *evaluation // made when a rule is judged
	// Keys unchanged: the stack and the policy are; else their digests
	// say which changed.
	sameStack, samePolicy := false, false
	if memo != nil {
		if in.Key != "" && memo.key == in.Key {
			sameStack, samePolicy = true, true
		} else {
			ev = newEvaluation(in, e.adapter)
			stack, policy := ev.digests()
			sameStack, samePolicy = memo.stack == stack, memo.policy == policy
			memo.stack, memo.policy = stack, policy
		}
	}
	defer func() {
		if ev != nil {
			ev.release()
			ev.drop()
		}
	}()
	sameObserved := memo != nil && in.ObservedKey != "" && memo.observedKey == in.ObservedKey
	if memo != nil {
		memo.key, memo.observedKey = in.Key, in.ObservedKey
	}
	out := dst
	for i := range e.rules {
		c := &e.rules[i]
		if !c.rule.Match.Matches(in.Stack.ClientID, in.Stack.Environment) {
			if memo != nil {
				memo.out[i] = outcome{} // judged again when it applies again
			}
			continue
		}
		var o outcome
		if memo != nil {
			o = memo.out[i]
		}
		if !o.judged() || (c.reads&readsStack != 0 && !sameStack) || (c.reads&readsPolicy != 0 && !samePolicy) ||
			(c.reads&readsObserved != 0 && !sameObserved) {
			if ev == nil {
				ev = newEvaluation(in, e.adapter)
			}
			o = e.judgeShared(i, ev)
			if memo != nil {
				memo.out[i] = o
			}
		}
		res := Result{Rule: c.rule.Name, Mode: c.rule.Mode, Status: o.Status(), Message: o.message}
		if res.Status == Noncompliant {
			if x, ok := e.org.Exception(c.rule.Name, in.Stack.ClientID, in.Stack.StackID, now); ok {
				held := x // only an exception that holds escapes to the heap
				res.Status, res.Exception = Excepted, &held
				res.Message = fmt.Sprintf("excepted until %s by %s: %s", x.Expires, x.Owner, x.Reason)
			}
		}
		out = append(out, res)
	}
	return out
}

// adopt makes memo one of e's rules: an empty one, or, when it holds
// outcomes of another rule set, those of the rules e keeps.
func (m *Memo) adopt(e *Engine) {
	if m.out != nil && m.set == e.set {
		return
	}
	out := make([]outcome, len(e.rules))
	if m.out != nil {
		old := make(map[string]outcome, len(m.ids))
		for i, id := range m.ids {
			old[id] = m.out[i]
		}
		for i, id := range e.ids {
			out[i] = old[id]
		}
	}
	m.set, m.ids, m.out = e.set, e.ids, out
}

// judgeShared is rule i's outcome for the evaluation's input: from the
// outcomes shared between stacks when the rule does not read the stack or
// reads only fields of it it is projected on (and the observation, if it
// reads it, has a key), else evaluated.
func (e *Engine) judgeShared(i int, ev *evaluation) outcome {
	c := &e.rules[i]
	if (c.reads&readsStack != 0 && !c.projected) || (c.reads&readsObserved != 0 && ev.in.Observed != nil && ev.in.ObservedKey == "") ||
		!e.shared.worth(i) {
		ev.release()
		return ev.eval(c)
	}
	k := ev.buf[:0]
	if c.reads&readsStack != 0 {
		k = append(k, 's')
		k = append(k, ev.stackKey(c.fields)...)
	}
	if c.reads&readsPolicy != 0 {
		k = append(k, 'p')
		k = append(k, ev.policyKey()...)
	}
	if c.reads&readsObserved != 0 {
		if ev.in.Observed == nil {
			k = append(k, 'u') // unknown
		} else {
			k = append(k, 'o')
			k = append(k, ev.in.ObservedKey...)
		}
	}
	ev.buf = k
	if o, ok := e.shared.get(i, k, ev); ok {
		return o
	}
	ev.release() // judging may take long, and put locks
	o := ev.eval(c)
	e.shared.put(i, k, o)
	return o
}

// evaluation is one stack's evaluation: its input, and what is built
// from it when a rule needs it first (the activation, the policy's key).
type evaluation struct {
	in                      Input
	adapter                 types.Adapter
	partial                 interpreter.Activation
	stack, policy, observed *celView // the variables, made once
	policyKeyDone           bool
	pkey, buf               []byte
	// readLocked is the shared outcomes' lock while the evaluation holds
	// it for reading (sharedOutcomes.get).
	readLocked *sync.RWMutex
	// projections are the stack's projections built so far, by fields
	// (rules of the same kind read the same ones).
	projections []projection
	keys        []string // scratch for the projections' map keys
}

type projection struct {
	fields fieldMask
	key    []byte
}

// evaluations are evaluations dropped, kept for their scratch space:
// nothing refers to an evaluation once its EvaluateAppend returned (the
// outcomes hold strings, the shared keys are copies; the celViews, which
// refer to its input, are dropped with it).
var evaluations = sync.Pool{New: func() any { return new(evaluation) }}

func newEvaluation(in Input, adapter types.Adapter) *evaluation {
	ev := evaluations.Get().(*evaluation)
	ev.in, ev.adapter = in, adapter
	return ev
}

// drop puts ev back in evaluations, emptied but for its scratch space.
func (ev *evaluation) drop() {
	clear(ev.keys[:cap(ev.keys)]) // holds no string of the stack's
	*ev = evaluation{pkey: ev.pkey[:0], buf: ev.buf[:0], projections: ev.projections[:0], keys: ev.keys[:0]}
	evaluations.Put(ev)
}

// release releases the shared outcomes' read lock if ev holds it.
func (ev *evaluation) release() {
	if ev.readLocked != nil {
		ev.readLocked.RUnlock()
		ev.readLocked = nil
	}
}

// scratch makes the evaluation's scratch space.
func (ev *evaluation) scratch() {
	if ev.projections == nil {
		ev.projections = make([]projection, 0, 4)
		ev.keys = make([]string, 0, 16)
		ev.buf = make([]byte, 0, 512)
	}
}

// stackKey is the stack's projection on fields.
func (ev *evaluation) stackKey(fields fieldMask) []byte {
	for _, p := range ev.projections {
		if p.fields == fields {
			return p.key
		}
	}
	ev.scratch()
	var k []byte
	if n := len(ev.projections); n < cap(ev.projections) {
		k = ev.projections[:n+1][n].key[:0] // a dropped evaluation's
	}
	k = ev.in.Stack.appendProjected(k, fields, &ev.keys)
	ev.projections = append(ev.projections, projection{fields, k})
	return k
}

// digests are those of the stack's and the policy's views.
func (ev *evaluation) digests() (stack, policy [sha256.Size]byte) {
	ev.scratch()
	ev.buf = ev.in.Stack.appendKey(ev.buf[:0], &ev.keys)
	return sha256.Sum256(ev.buf), sha256.Sum256(ev.policyKey())
}

func (ev *evaluation) policyKey() []byte {
	if !ev.policyKeyDone {
		if ev.pkey == nil {
			ev.pkey = make([]byte, 0, 256)
		}
		ev.pkey, ev.policyKeyDone = ev.in.Policy.appendKey(ev.pkey[:0]), true
	}
	return ev.pkey
}

// ResolveName resolves the variables, each a celView made on first use
// and shared by the evaluation's rules.
func (ev *evaluation) ResolveName(name string) (any, bool) {
	switch name {
	case "stack":
		if ev.stack == nil {
			ev.stack = newCELView(ev.adapter, reflect.ValueOf(&ev.in.Stack).Elem())
		}
		return ev.stack, true
	case "policy":
		if ev.policy == nil {
			ev.policy = newCELView(ev.adapter, reflect.ValueOf(&ev.in.Policy).Elem())
		}
		return ev.policy, true
	case "observed":
		if ev.in.Observed == nil {
			return nil, false
		}
		if ev.observed == nil {
			ev.observed = newCELView(ev.adapter, reflect.ValueOf(ev.in.Observed).Elem())
		}
		return ev.observed, true
	}
	return nil, false
}

// Parent: an evaluation's activation has none.
func (ev *evaluation) Parent() interpreter.Activation { return nil }

// eval runs a rule on the input: on the full activation, or on a
// partial one (observed unknown) when there is no observation.
func (ev *evaluation) eval(c *compiled) outcome {
	var (
		val any
		err error
	)
	if ev.in.Observed != nil {
		val, _, err = c.prog.Eval(ev)
	} else {
		if ev.partial == nil {
			ev.partial, _ = cel.PartialVars(map[string]any{"stack": ev.in.Stack, "policy": ev.in.Policy}, cel.AttributePattern("observed"))
		}
		val, _, err = c.partial.Eval(ev.partial)
	}
	st, msg := judge(c.rule, val, err)
	return newOutcome(st, msg)
}

// outcomeID is what a rule's outcome depends on besides the variables:
// its expression and message, and its name when it has no message (the
// default message names it: see judge).
func outcomeID(r config.ComplianceRule) string {
	if r.Message == "" {
		return r.Expression + "\x01" + r.Name
	}
	return r.Expression + "\x00" + r.Message
}

// judge turns an evaluation into a status and message.
func judge(r config.ComplianceRule, val any, err error) (Status, string) {
	if err != nil {
		return Unknown, "evaluation failed: " + err.Error()
	}
	v, ok := val.(interface{ Value() any })
	if !ok {
		return Unknown, "evaluation gave no value"
	}
	if u, ok := val.(*types.Unknown); ok && u != nil {
		return Unknown, "needs the observed state, and no pass has observed the stack since its desired state changed"
	}
	switch v.Value() {
	case true:
		return Compliant, ""
	case false:
		msg := r.Message
		if msg == "" {
			msg = "rule " + r.Name + " is not met"
		}
		return Noncompliant, msg
	}
	return Unknown, fmt.Sprintf("the expression gave %v, not a bool", v.Value())
}

// sizeEstimator bounds the collections of the variables for cost
// estimates.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if p := n.Path(); len(p) >= 2 && p[0] == "stack" && p[1] == "providers" && len(p) == 2 {
		return &cost.SizeEstimate{Min: 0, Max: 3}
	}
	return &cost.SizeEstimate{Min: 0, Max: maxCollection}
}

func (sizeEstimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// CheckConfig compiles the rules of a config's OrganizationPolicy and
// refuses exceptions that have expired at now, as a *config.Errors at
// the places of the file. It returns the compiled engine (nil, nil when
// the config declares no OrganizationPolicy).
func CheckConfig(cfg *config.Config, now time.Time) (*Engine, error) {
	if cfg.Organization == nil {
		return nil, nil
	}
	org := &cfg.Organization.Spec
	where := func(path string) config.Place {
		return cfg.Where(config.PlaceKey(config.KindOrganizationPolicy, path))
	}
	e, err := Compile(org, where)
	var errs config.Errors
	if err != nil {
		var cerrs *config.Errors
		if !errors.As(err, &cerrs) {
			return nil, err
		}
		errs = append(errs, *cerrs...)
	}
	for i, x := range org.Exceptions {
		if !now.Before(x.ExpiresAt()) {
			p := fmt.Sprintf("spec.exceptions[%d].expires", i)
			errs = append(errs, where(p).Errorf("%s: the exception of rule %q for %s expired at %s: renew it with a later date or remove it",
				p, x.Rule, x.ClientID, x.Expires))
		}
	}
	if len(errs) > 0 {
		return nil, &errs
	}
	return e, nil
}
