package promote

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
)

// Release is the desired composition a promotion gives the target: the
// source's composition, except for the fields either stack lists in its
// overrides, which keep the target's values (absent in the target, they
// are absent in the release). The target keeps its own overrides list
// and app.
func Release(source, target json.RawMessage) (config.StackSpec, []config.Change, error) {
	var src, dst map[string]any
	if err := json.Unmarshal(source, &src); err != nil {
		return config.StackSpec{}, nil, fmt.Errorf("source document: %w", err)
	}
	if err := json.Unmarshal(target, &dst); err != nil {
		return config.StackSpec{}, nil, fmt.Errorf("target document: %w", err)
	}
	if src == nil {
		src = map[string]any{}
	}
	overrides := append(stringList(src["overrides"]), stringList(dst["overrides"])...)
	out := src
	delete(out, "overrides")
	delete(out, "app")
	for _, o := range overrides {
		path := strings.Split(o, ".")
		removePath(out, path)
		if v, ok := lookupPath(dst, path); ok {
			setPath(out, path, v)
		}
	}
	for _, k := range []string{"overrides", "app"} {
		if v, ok := dst[k]; ok {
			out[k] = v
		}
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return config.StackSpec{}, nil, err
	}
	var spec config.StackSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return config.StackSpec{}, nil, fmt.Errorf("release does not decode as a stack: %w", err)
	}
	canonical, _, err := config.Hash(spec)
	if err != nil {
		return config.StackSpec{}, nil, err
	}
	var before, after any
	_ = json.Unmarshal(target, &before) // decoded above
	if err := json.Unmarshal(canonical, &after); err != nil {
		return config.StackSpec{}, nil, err
	}
	return spec, config.DiffJSON("", before, after), nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func lookupPath(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func removePath(m map[string]any, path []string) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, path[len(path)-1])
}

func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// SoakError is a promotion refused because the source's release has not
// soaked long enough.
type SoakError struct {
	Environment string
	Required    time.Duration
	Remaining   time.Duration
}

func (e *SoakError) Error() string {
	return fmt.Sprintf("the release in %s has soaked %s of its required %s: %s remaining",
		e.Environment, (e.Required - e.Remaining).Round(time.Second), e.Required, e.Remaining.Round(time.Second))
}

// CheckSoak says whether a source stage's release has soaked: its
// current version has been desired since since, and soak must have
// passed since then. A source whose last pass did not verify it healthy
// has not soaked at all (its soak starts over once it is).
func CheckSoak(stage config.Stage, since time.Time, healthy bool, now time.Time) error {
	soak := stage.Soak.D()
	if !healthy {
		return fmt.Errorf("the release in %s is not verified healthy: a promotion needs a healthy source", stage.Environment)
	}
	if elapsed := now.Sub(since); elapsed < soak {
		return &SoakError{Environment: stage.Environment, Required: soak, Remaining: soak - elapsed}
	}
	return nil
}
