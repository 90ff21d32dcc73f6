package compliance

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

// TestMemoOutlivesARecompile: an engine compiled anew from the same rules
// reuses a stack's memo (a rule is a pure function of its expression,
// message and variables); of another rule set, only the outcomes of the
// rules it keeps unchanged are reused, and new or changed rules are
// judged.
func TestMemoOutlivesARecompile(t *testing.T) {
	t.Parallel()
	prod := rule("prod", config.RuleAudit, "stack.environment == 'prod'")
	named := rule("named", config.RuleAudit, "stack.stack_id == 'web'")
	compile := func(rs ...config.ComplianceRule) *Engine {
		e, err := Compile(&config.OrganizationSpec{Rules: rs}, nowhere)
		require.NoError(t, err)
		return e
	}
	statuses := func(rs []Result) []Status {
		var out []Status
		for _, r := range rs {
			out = append(out, r.Status)
		}
		return out
	}
	a := compile(prod, named)
	var memo Memo
	in := Input{Stack: StackView{StackID: "web", Environment: "prod"}, Observed: &ObservedView{}, Key: "k", ObservedKey: "o"}
	require.Equal(t, []Status{Compliant, Compliant}, statuses(a.EvaluateMemo(in, time.Now(), &memo)))

	// The same rules compiled again: fresh, nothing judged (the stack
	// shown now would fail both).
	b := compile(prod, named)
	require.True(t, b.Fresh(&memo, "k", "o"))
	in.Stack = StackView{StackID: "api", Environment: "dev"}
	require.Equal(t, []Status{Compliant, Compliant}, statuses(b.EvaluateMemo(in, time.Now(), &memo)))

	// prod kept, named changed, a new rule: only prod's outcome reused.
	changed := named
	changed.Expression = "stack.stack_id == 'api'"
	c := compile(changed, rule("dev", config.RuleAudit, "stack.environment == 'dev'"), prod)
	require.False(t, c.Fresh(&memo, "k", "o"))
	require.Equal(t, []Status{Compliant, Compliant, Compliant}, statuses(c.EvaluateMemo(in, time.Now(), &memo)))
	// A new message is a new rule too.
	msg := prod
	msg.Message = "prod only"
	d := compile(msg)
	require.Equal(t, []Status{Noncompliant}, statuses(d.EvaluateMemo(in, time.Now(), &memo)))
	// Back to the first rules: prod's outcome is d's (judged for this
	// stack's key), named's is judged again.
	in.Stack.StackID = "web"
	require.Equal(t, []Status{Noncompliant, Compliant}, statuses(a.EvaluateMemo(in, time.Now(), &memo)))
}

// TestRulesThatDoNotReadTheStackAreShared: a rule that reads only the
// policy or the observation is judged once for every stack with that
// policy and observation key; exceptions are still the stack's own; a
// rule that reads the stack is judged for each; an unknown observation
// stays unknown and does not leak into known ones.
func TestRulesThatDoNotReadTheStackAreShared(t *testing.T) {
	t.Parallel()
	org := &config.OrganizationSpec{
		Rules: []config.ComplianceRule{
			rule("approval", config.RuleAudit, "'cms_provider_change' in policy.auto_heal.require_approval"),
			rule("up", config.RuleAudit, "observed.status == 'healthy'"),
			rule("prod", config.RuleAudit, "stack.environment == 'prod'"),
		},
		Exceptions: []config.RuleException{{Rule: "approval", ClientID: "acme", StackID: "blog", Owner: "ops", Reason: "migrating",
			Expires: time.Now().Add(time.Hour).Format(time.RFC3339)}},
	}
	e, err := Compile(org, nowhere)
	require.NoError(t, err)
	now := time.Now()
	healthy := ObservedView{Status: "healthy"}
	web := Input{Stack: StackView{ClientID: "acme", StackID: "web", Environment: "prod"}, Observed: &healthy, ObservedKey: healthy.Key()}
	got := e.Evaluate(web, now)
	require.Equal(t, []Status{Noncompliant, Compliant, Compliant}, []Status{got[0].Status, got[1].Status, got[2].Status})

	// Another stack, same policy and observation key: the shared outcomes
	// (shown by a view that would judge otherwise under the same key, on
	// purpose), its own exception, its own stack rule.
	drifted := ObservedView{Status: "drift_detected"}
	blog := Input{Stack: StackView{ClientID: "acme", StackID: "blog", Environment: "dev"}, Observed: &drifted, ObservedKey: healthy.Key()}
	got = e.Evaluate(blog, now)
	require.Equal(t, []Status{Excepted, Compliant, Noncompliant}, []Status{got[0].Status, got[1].Status, got[2].Status})
	require.Equal(t, "ops", got[0].Exception.Owner)

	// Another policy, another observation key: judged.
	blog.Policy.AutoHeal.RequireApproval = []string{"cms_provider_change"}
	blog.ObservedKey = drifted.Key()
	got = e.Evaluate(blog, now)
	require.Equal(t, []Status{Compliant, Noncompliant}, []Status{got[0].Status, got[1].Status})

	// No observation: unknown, and a stack observed healthy is still
	// compliant after it.
	unobserved := Input{Stack: web.Stack}
	require.Equal(t, Unknown, e.Evaluate(unobserved, now)[1].Status)
	require.Equal(t, Compliant, e.Evaluate(web, now)[1].Status)
	require.Equal(t, Unknown, e.Evaluate(unobserved, now)[1].Status)

	// An expired exception exempts nothing, shared outcome or not.
	require.Equal(t, Noncompliant, e.Evaluate(Input{Stack: StackView{ClientID: "acme", StackID: "blog"}, Observed: &healthy,
		ObservedKey: healthy.Key()}, now.Add(2*time.Hour))[0].Status)
}

// TestPolicyKeyCoversEveryField: changing any field of a policy view
// changes its key, so that rules sharing outcomes by policy never share
// them between different policies.
func TestPolicyKeyCoversEveryField(t *testing.T) {
	t.Parallel()
	base := PolicyView{Notifications: NotificationsView{Channels: []ChannelView{{Type: "slack"}}},
		AutoHeal: AutoHealView{AllowedDriftTypes: []string{"a"}, RequireApproval: []string{"b"}}}
	leaves := keyCoversEveryField(t, base, func(v PolicyView) string { return string(v.appendKey(nil)) })
	require.Len(t, leaves, 26, "%v", leaves) // every leaf of PolicyView today, lists twice
}

// TestStackKeyCoversEveryField: changing any field of a stack view
// changes its key (a memo keeps the outcomes of a stack's rules while its
// digest is the same).
func TestStackKeyCoversEveryField(t *testing.T) {
	t.Parallel()
	base := StackView{
		Providers: map[string]ProviderView{"cms": {Settings: map[string]string{"a": "b"}, WebhookSecrets: []SecretView{{}},
			Credentials: map[string]SecretView{"token": {}}}},
		Integrations: map[string]IntegrationView{"i": {Topics: []string{"t"}}},
		Resources:    map[string]ResourceView{"r": {}},
		ContentTypes: []string{"post"},
	}
	leaves := keyCoversEveryField(t, base, func(v StackView) string { return string(v.appendKey(nil, new([]string))) })
	require.Len(t, leaves, 26, "%v", leaves)
	// Map order does not matter.
	a := StackView{Resources: map[string]ResourceView{}}
	b := StackView{Resources: map[string]ResourceView{}}
	for i := range 20 {
		a.Resources[fmt.Sprint(i)] = ResourceView{Probe: fmt.Sprint(i)}
	}
	for i := 19; i >= 0; i-- {
		b.Resources[fmt.Sprint(i)] = ResourceView{Probe: fmt.Sprint(i)}
	}
	require.Equal(t, string(a.appendKey(nil, new([]string))), string(b.appendKey(nil, new([]string))))
}

// keyCoversEveryField changes each leaf of base (a field, the elements
// of a list or map, a list's length, a map's keys) in a copy and requires
// key to change; base must hold one element in each list and map. It returns the leaves' paths.
func keyCoversEveryField[T any](t *testing.T, base T, key func(T) string) []string {
	t.Helper()
	want := key(base)
	// An edit applies f to a value inside an addressable copy of base,
	// copying the slices and maps it goes through so that base keeps its
	// own.
	type edit func(root reflect.Value, f func(reflect.Value))
	var leaves []string
	change := func(path string, at edit, f func(reflect.Value)) {
		leaves = append(leaves, path)
		changed := base
		at(reflect.ValueOf(&changed).Elem(), f)
		require.NotEqual(t, want, key(changed), "%s does not change the key", path)
		require.Equal(t, want, key(base), "%s: base changed", path)
	}
	var walk func(path string, typ reflect.Type, at edit)
	walk = func(path string, typ reflect.Type, at edit) {
		switch typ.Kind() {
		case reflect.Struct:
			for i := range typ.NumField() {
				walk(path+"."+typ.Field(i).Name, typ.Field(i).Type, func(root reflect.Value, f func(reflect.Value)) {
					at(root, func(v reflect.Value) { f(v.Field(i)) })
				})
			}
		case reflect.Slice:
			if typ.Elem().Kind() == reflect.Struct {
				walk(path+"[0]", typ.Elem(), func(root reflect.Value, f func(reflect.Value)) {
					at(root, func(s reflect.Value) {
						c := reflect.MakeSlice(s.Type(), s.Len(), s.Len())
						reflect.Copy(c, s)
						s.Set(c)
						f(c.Index(0))
					})
				})
			} else {
				change(path+"[*]", at, func(s reflect.Value) {
					c := reflect.MakeSlice(s.Type(), s.Len(), s.Len())
					reflect.Copy(c, s)
					s.Set(c)
					for i := range c.Len() {
						setLeaf(t, path, c.Index(i))
					}
				})
			}
			change(path+" (length)", at, func(s reflect.Value) { s.Set(reflect.Append(s, reflect.Zero(s.Type().Elem()))) })
		case reflect.Map:
			walk(path+"[*]", typ.Elem(), func(root reflect.Value, f func(reflect.Value)) {
				at(root, func(m reflect.Value) {
					c := reflect.MakeMap(m.Type())
					iter := m.MapRange()
					for iter.Next() {
						el := reflect.New(m.Type().Elem()).Elem()
						el.Set(iter.Value())
						f(el)
						c.SetMapIndex(iter.Key(), el)
					}
					m.Set(c)
				})
			})
			change(path+" (keys)", at, func(m reflect.Value) {
				c := reflect.MakeMap(m.Type())
				iter := m.MapRange()
				for iter.Next() {
					c.SetMapIndex(reflect.ValueOf(iter.Key().String()+"x"), iter.Value())
				}
				m.Set(c)
			})
		default:
			change(path, at, func(v reflect.Value) { setLeaf(t, path, v) })
		}
	}
	walk("view", reflect.TypeFor[T](), func(root reflect.Value, f func(reflect.Value)) { f(root) })
	return leaves
}

// setLeaf changes a string, number, bool or list of a view.
func setLeaf(t *testing.T, path string, f reflect.Value) {
	switch f.Kind() {
	case reflect.String:
		f.SetString(f.String() + "x")
	case reflect.Int, reflect.Int64:
		f.SetInt(f.Int() + 7)
	case reflect.Bool:
		f.SetBool(!f.Bool())
	case reflect.Slice:
		f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
	default:
		t.Fatalf("%s: a %s field: teach appendKey and this test", path, f.Kind())
	}
}

// TestMemoKeepsWhatDidNotChange: when the input's key changes, the
// outcomes of the rules that read only what did not change (the stack,
// the policy) are kept, the others judged again; a rule that stopped
// applying is judged again when it applies again.
func TestMemoKeepsWhatDidNotChange(t *testing.T) {
	t.Parallel()
	org := &config.OrganizationSpec{Rules: []config.ComplianceRule{
		rule("named", config.RuleAudit, "stack.stack_id == 'web'"),
		{Name: "fast", Mode: config.RuleAudit, Match: config.RuleMatch{Environments: []string{"prod"}},
			Expression: "policy.schedule.interval <= duration('5m')"},
	}}
	e, err := Compile(org, nowhere)
	require.NoError(t, err)
	statuses := func(rs []Result) []Status {
		var out []Status
		for _, r := range rs {
			out = append(out, r.Status)
		}
		return out
	}
	var memo Memo
	now := time.Now()
	in := Input{Stack: StackView{StackID: "web", Environment: "prod"}, Policy: PolicyView{Schedule: ScheduleView{Interval: time.Minute}}, Key: "k1"}
	require.Equal(t, []Status{Compliant, Compliant}, statuses(e.EvaluateMemo(in, now, &memo)))

	// A new key, the same stack and policy: nothing judged; shown by a
	// memo whose outcome is made up.
	memo.out[0] = newOutcome(Noncompliant, "made up")
	in.Key = "k2"
	require.Equal(t, []Status{Noncompliant, Compliant}, statuses(e.EvaluateMemo(in, now, &memo)))
	// The policy changed, the stack did not: named kept, fast judged.
	in.Key, in.Policy.Schedule.Interval = "k3", time.Hour
	require.Equal(t, []Status{Noncompliant, Noncompliant}, statuses(e.EvaluateMemo(in, now, &memo)))
	// The stack changed: named judged.
	in.Key, in.Stack.StackID = "k4", "api"
	require.Equal(t, []Status{Noncompliant, Noncompliant}, statuses(e.EvaluateMemo(in, now, &memo)))
	require.NotEqual(t, "made up", e.EvaluateMemo(in, now, &memo)[0].Message)

	// fast stops applying (dev) while the policy changes back, then
	// applies again under that policy: judged, not the outcome of the
	// policy it last saw.
	in.Key, in.Stack.Environment, in.Policy.Schedule.Interval = "k5", "dev", time.Minute
	require.Len(t, e.EvaluateMemo(in, now, &memo), 1)
	in.Key, in.Stack.Environment = "k6", "prod"
	require.Equal(t, []Status{Noncompliant, Compliant}, statuses(e.EvaluateMemo(in, now, &memo)))
}

// TestSharedOutcomesConcurrently: stacks evaluated at once by one engine
// (the recorder's passes run in parallel) each get their own policy's
// outcome; run with -race.
func TestSharedOutcomesConcurrently(t *testing.T) {
	t.Parallel()
	org := &config.OrganizationSpec{Rules: []config.ComplianceRule{
		rule("fast", config.RuleAudit, "policy.schedule.interval <= duration('5m')")}}
	e, err := Compile(org, nowhere)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				minutes := (g + i) % 10
				in := Input{Policy: PolicyView{Schedule: ScheduleView{Interval: time.Duration(minutes) * time.Minute}}}
				want := Compliant
				if minutes > 5 {
					want = Noncompliant
				}
				if got := e.Evaluate(in, time.Now())[0].Status; got != want {
					errs <- fmt.Sprintf("%d minutes: %s, want %s", minutes, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

// TestARenamedRuleWithoutAMessageNamesItsNewName: a rule without a
// message of its own fails with a message that names it, so its name is
// part of what its outcome depends on: renamed, the memo's outcome of the
// old name is not reused.
func TestARenamedRuleWithoutAMessageNamesItsNewName(t *testing.T) {
	t.Parallel()
	compile := func(name string) *Engine {
		r := config.ComplianceRule{Name: name, Mode: config.RuleAudit, Expression: "stack.environment == 'prod'"} // no message
		e, err := Compile(&config.OrganizationSpec{Rules: []config.ComplianceRule{r}}, nowhere)
		require.NoError(t, err)
		return e
	}
	var memo Memo
	in := Input{Stack: StackView{StackID: "web", Environment: "dev"}, Observed: &ObservedView{}, Key: "k", ObservedKey: "o"}
	got := compile("prod-only").EvaluateMemo(in, time.Now(), &memo)
	require.Equal(t, "rule prod-only is not met", got[0].Message)
	got = compile("only-prod").EvaluateMemo(in, time.Now(), &memo)
	require.Equal(t, "only-prod", got[0].Rule)
	require.Equal(t, "rule only-prod is not met", got[0].Message)
}
