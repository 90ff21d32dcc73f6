package drift

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
)

// EnvironmentPeer is another stack of the same application.
type EnvironmentPeer struct {
	StackID     string
	Environment string
	// Desired is the peer's desired document (canonical JSON of its
	// StackSpec).
	Desired json.RawMessage
}

// EnvironmentInput is what CompareEnvironments needs of one stack.
type EnvironmentInput struct {
	ClientID, StackID, Environment string
	Desired                        json.RawMessage
	// Order is the application's pipeline: its environments, first to
	// last.
	Order []string
	Peers []EnvironmentPeer
	Now   time.Time
}

// divergenceSide is one side of an environment_divergence: the stack, its
// environment and the values of the differing fields (a field it lacks is
// absent).
type divergenceSide struct {
	StackID     string         `json:"stack_id"`
	Environment string         `json:"environment"`
	Values      map[string]any `json:"values"`
}

// CompareEnvironments finds environment_divergence on a stack: fields of
// its composition that differ from those of the leading environment, the
// nearest environment before it in Order that has a stack. Fields that
// either stack lists in overrides (config.Overridden), and the overrides
// and app themselves, are expected to differ and are left out. The drift
// is reported on the lagging stack (the later one in Order), one drift
// per component: the first two fields of the path (resources.site,
// providers.ecommerce), or content_types. A stack whose environment is not
// in Order, or is first, or that has no leading peer, has none.
func CompareEnvironments(in EnvironmentInput) ([]Drift, error) {
	lead, ok := leadingPeer(in)
	if !ok {
		return nil, nil
	}
	mine, err := flattenDocument(in.Desired)
	if err != nil {
		return nil, fmt.Errorf("desired document of %s: %w", in.StackID, err)
	}
	theirs, err := flattenDocument(lead.Desired)
	if err != nil {
		return nil, fmt.Errorf("desired document of %s: %w", lead.StackID, err)
	}
	overrides := append(overridesOf(mine), overridesOf(theirs)...)
	byComponent := map[string][2]map[string]any{}
	for _, path := range unionKeys(mine, theirs) {
		root, _, _ := strings.Cut(path, ".")
		if root == "overrides" || root == "app" || config.Overridden(path, overrides) {
			continue
		}
		a, inA := theirs[path]
		b, inB := mine[path]
		if inA == inB && jsonEqual(a, b) {
			continue
		}
		c := componentOf(path)
		sides, ok := byComponent[c]
		if !ok {
			sides = [2]map[string]any{{}, {}}
			byComponent[c] = sides
		}
		if inA {
			sides[0][path] = a
		}
		if inB {
			sides[1][path] = b
		}
	}
	cl, _ := Classify(EnvironmentDivergence)
	var out []Drift
	for _, c := range sortedComponents(byComponent) {
		sides := byComponent[c]
		out = append(out, Drift{
			ID: ID(in.ClientID, in.StackID, cl.Type, c), ClientID: in.ClientID, StackID: in.StackID,
			Code: EnvironmentDivergence, Type: cl.Type, Component: c, Severity: cl.Severity,
			Expected:   divergenceSide{StackID: lead.StackID, Environment: lead.Environment, Values: sides[0]},
			Observed:   divergenceSide{StackID: in.StackID, Environment: in.Environment, Values: sides[1]},
			DetectedAt: in.Now,
		})
	}
	return out, nil
}

// leadingPeer is the peer of the nearest environment before in's in Order.
func leadingPeer(in EnvironmentInput) (EnvironmentPeer, bool) {
	at := slices.Index(in.Order, in.Environment)
	for i := at - 1; i >= 0; i-- {
		for _, p := range in.Peers {
			if p.Environment == in.Order[i] && p.StackID != in.StackID {
				return p, true
			}
		}
	}
	return EnvironmentPeer{}, false
}

// flattenDocument maps each leaf of a JSON object to its dot-separated
// path; a list is a leaf (compared whole).
func flattenDocument(doc json.RawMessage) (map[string]any, error) {
	var v map[string]any
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			out[prefix] = v
			return
		}
		for k, e := range m {
			walk(prefix+"."+k, e)
		}
	}
	for k, e := range v {
		walk(k, e)
	}
	return out, nil
}

// overridesOf is the overrides list of a flattened document.
func overridesOf(flat map[string]any) []string {
	list, _ := flat["overrides"].([]any)
	var out []string
	for _, o := range list {
		if s, ok := o.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// componentOf is the first two fields of a path (or the one).
func componentOf(path string) string {
	parts := strings.SplitN(path, ".", 3)
	if len(parts) < 2 {
		return parts[0]
	}
	return parts[0] + "." + parts[1]
}

func unionKeys(a, b map[string]any) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func sortedComponents(m map[string][2]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
