package compliance

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
)

// FuzzCompile: any expression either compiles or is refused with an
// error naming the rule's place, and a compiled one evaluates without
// panicking, to one of the four statuses.
//
//	go test -run '^$' -fuzz FuzzCompile -fuzztime 30s ./internal/compliance
func FuzzCompile(f *testing.F) {
	for _, r := range benchRules() {
		f.Add(r.Expression)
	}
	for _, s := range []string{"", "true", "1 + ", "stack.resources.map(r, r).size() > 0",
		"[1,2,3].all(x, [1,2,3].all(y, x != y || true))", "observed.resources['x'] == 'healthy'", "'a'.matches('[')"} {
		f.Add(s)
	}
	stacks := append(benchStacks(3, false), benchStacks(3, true)...)
	f.Fuzz(func(t *testing.T, expr string) {
		org := &config.OrganizationSpec{Rules: []config.ComplianceRule{{Name: "f", Mode: config.RuleAudit, Expression: expr}}}
		e, err := Compile(org, nowhere)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `org.yaml:7:17: spec.rules[0].expression: rule "f": `) {
				t.Fatalf("error without its place: %v", err)
			}
			return
		}
		now := time.Now()
		for _, in := range append(stacks, Input{Stack: StackView{ClientID: "a", StackID: "b"}}) {
			got := e.Evaluate(in, now) // after the stacks before: outcomes shared with theirs
			for _, r := range got {
				switch r.Status {
				case Compliant, Noncompliant, Unknown, Excepted:
				default:
					t.Fatalf("status %q", r.Status)
				}
			}
			// An engine that has judged no other stack says the same.
			alone, err := Compile(org, nowhere)
			if err != nil {
				t.Fatal(err)
			}
			if want := alone.Evaluate(in, now); !reflect.DeepEqual(got, want) {
				t.Fatalf("stack %s: %v after other stacks, %v alone", in.Stack.StackID, got, want)
			}
			// And the celViews judge as the structs do.
			requireSameAsNative(t, e, in)
		}
	})
}
