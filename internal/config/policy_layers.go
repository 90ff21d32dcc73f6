package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// The levels of the policy hierarchy, as FieldSource.Source names them.
const (
	LevelStack        = "stack"
	LevelClient       = "client"
	LevelOrganization = "organization"
	LevelDefault      = "default"
)

// FieldSource says which level of the hierarchy set one field of an
// effective policy.
type FieldSource struct {
	// Path is the field's dotted path ("auto_heal.max_attempts").
	Path string `json:"path"`
	// Value is the effective value, as JSON.
	Value json.RawMessage `json:"value"`
	// Source is the level that set it: stack, client, organization or
	// default.
	Source string `json:"source"`
	// Locked: the organisation locked the field, so no lower level may
	// set it otherwise.
	Locked bool `json:"locked,omitempty"`
}

// policyLeaf is one field of PolicySpec that the hierarchy sets as a
// whole: a scalar, a duration, a pointer or a list.
type policyLeaf struct {
	path  string
	index []int
}

var policyLeaves = sync.OnceValue(func() []policyLeaf {
	var out []policyLeaf
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			idx := append(slices.Clone(index), i)
			path := JoinPath(prefix, name)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, path, idx)
				continue
			}
			out = append(out, policyLeaf{path: path, index: idx})
		}
	}
	walk(reflect.TypeFor[PolicySpec](), "", nil)
	return out
})

// PolicyFieldPaths lists the paths of a policy spec's fields that the
// hierarchy sets (and an OrganizationPolicy may lock), in declaration
// order.
func PolicyFieldPaths() []string {
	leaves := policyLeaves()
	out := make([]string, len(leaves))
	for i, l := range leaves {
		out[i] = l.path
	}
	return out
}

// leafSet reports whether a level's policy sets a field: a list that is
// not nil, a boolean always (booleans are taken as written), anything
// else when not zero.
func leafSet(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return !v.IsNil()
	case reflect.Bool:
		return true
	}
	return !v.IsZero()
}

// confirmationPair are the fields filled only together (see Confirmation).
var confirmationPair = []string{"confirmation.observations", "confirmation.grace_period"}

// ExplainPolicy computes the effective policy of a stack from the levels
// of the hierarchy (each nil when absent) and says which level set each
// field. As EffectivePolicy, the stack's own policy replaces its client's;
// fields the chosen one leaves unset come from the organisation's defaults,
// then from DefaultPolicy. A field the organisation locks always has the
// organisation's value (a lower level that sets it otherwise is refused
// when applied: CheckLocks).
func ExplainPolicy(org *OrganizationSpec, client, stack *PolicySpec) (PolicySpec, []FieldSource) {
	eff, src := layerPolicy(org, client, stack, true)
	ev := reflect.ValueOf(eff)
	out := make([]FieldSource, 0, len(policyLeaves()))
	for _, l := range policyLeaves() {
		fs := FieldSource{Path: l.path, Source: src[l.path]}
		if org != nil && slices.Contains(org.Locked, l.path) {
			fs.Source, fs.Locked = LevelOrganization, true
		}
		fs.Value, _ = json.Marshal(ev.FieldByIndex(l.index).Interface())
		out = append(out, fs)
	}
	return eff, out
}

// LayeredPolicy is ExplainPolicy's policy without the explanation: what
// every pass reads. Without an organisation it is EffectivePolicy.
func LayeredPolicy(org *OrganizationSpec, client, stack *PolicySpec) PolicySpec {
	if org == nil {
		return EffectivePolicy(stack, client)
	}
	eff, _ := layerPolicy(org, client, stack, false)
	return eff
}

// layerPolicy computes the effective policy and, when explain is set, the
// level that set each field.
func layerPolicy(org *OrganizationSpec, client, stack *PolicySpec, explain bool) (PolicySpec, map[string]string) {
	var chosen *PolicySpec
	level := ""
	switch {
	case stack != nil:
		chosen, level = stack, LevelStack
	case client != nil:
		chosen, level = client, LevelClient
	case org != nil:
		chosen, level = &org.Defaults, LevelOrganization
	}
	merged := PolicySpec{}
	if chosen != nil {
		merged = *chosen
	}
	src := map[string]string{}
	mv := reflect.ValueOf(&merged).Elem()
	pairSet := chosen != nil && (chosen.Confirmation.Observations != 0 || chosen.Confirmation.GracePeriod != 0)
	orgPairSet := org != nil && (org.Defaults.Confirmation.Observations != 0 || org.Defaults.Confirmation.GracePeriod != 0)
	for _, l := range policyLeaves() {
		pair := slices.Contains(confirmationPair, l.path)
		f := mv.FieldByIndex(l.index)
		switch {
		case chosen != nil && pair && pairSet, chosen != nil && !pair && leafSet(f):
			src[l.path] = level
		case org != nil && level != LevelOrganization && leafSet(reflect.ValueOf(org.Defaults).FieldByIndex(l.index)) && (!pair || orgPairSet):
			f.Set(reflect.ValueOf(org.Defaults).FieldByIndex(l.index))
			src[l.path] = LevelOrganization
		default:
			src[l.path] = LevelDefault
		}
	}
	eff := DefaultPolicy()
	if chosen != nil {
		eff = EffectivePolicy(&merged, nil)
	}
	if org != nil && len(org.Locked) > 0 {
		orgEff := reflect.ValueOf(EffectivePolicy(&org.Defaults, nil))
		ev := reflect.ValueOf(&eff).Elem()
		for _, l := range policyLeaves() {
			if slices.Contains(org.Locked, l.path) {
				ev.FieldByIndex(l.index).Set(orgEff.FieldByIndex(l.index))
			}
		}
	}
	if !explain {
		src = nil
	}
	return eff, src
}

// LockViolations lists the locked fields that a client's or stack's
// policy sets to another value than the organisation's effective one.
func LockViolations(org *OrganizationSpec, p *PolicySpec) []string {
	if org == nil || p == nil || len(org.Locked) == 0 {
		return nil
	}
	orgEff := reflect.ValueOf(EffectivePolicy(&org.Defaults, nil))
	pv := reflect.ValueOf(*p)
	var out []string
	for _, l := range policyLeaves() {
		if !slices.Contains(org.Locked, l.path) {
			continue
		}
		f := pv.FieldByIndex(l.index)
		if slices.Contains(confirmationPair, l.path) {
			if p.Confirmation.Observations == 0 && p.Confirmation.GracePeriod == 0 {
				continue
			}
		} else if !leafSet(f) {
			continue
		}
		a, _ := json.Marshal(f.Interface())
		b, _ := json.Marshal(orgEff.FieldByIndex(l.index).Interface())
		if string(a) != string(b) {
			out = append(out, l.path)
		}
	}
	return out
}
