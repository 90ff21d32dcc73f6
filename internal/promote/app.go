// Package promote ties a client's stacks into applications across
// environments and moves releases between them: the promotion of one
// environment's desired composition to the next, with soak, approval,
// verification against a fresh pass and automatic rollback (Promoter), and
// the application view that environment_divergence is judged on
// (Environments).
package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// ErrUnknown marks an application or environment that does not exist.
var ErrUnknown = errors.New("unknown")

// App is one application of a client: its pipeline and its stacks by
// environment.
type App struct {
	ClientID string
	Name     string
	Pipeline config.PipelineSpec
	// Declared is true when a Pipeline document is stored for the app
	// (false: config.DefaultPipeline).
	Declared bool
	Stacks   map[string]store.StateRecord // by environment
}

// Order lists the pipeline's environments, first to last.
func (a App) Order() []string {
	out := make([]string, len(a.Pipeline.Stages))
	for i, s := range a.Pipeline.Stages {
		out[i] = s.Environment
	}
	return out
}

// Environments lists the environments that have a stack, in pipeline
// order (environments outside the pipeline last, by name).
func (a App) Environments() []string {
	var out, extra []string
	for _, env := range a.Order() {
		if _, ok := a.Stacks[env]; ok {
			out = append(out, env)
		}
	}
	for env := range a.Stacks {
		if !slices.Contains(out, env) {
			extra = append(extra, env)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// AppOfState is the application a stored stack belongs to (config.AppOf
// of its id, environment and the app its document names).
func AppOfState(rec store.StateRecord) string {
	return config.AppOf(rec.StackID, rec.Environment, store.AppNamed(rec.Desired))
}

// Group sorts a client's stacks into applications: the stacks that have
// an environment, by config.AppOf, each with its stored pipeline or the
// default one.
func Group(clientID string, states []store.StateRecord, pipelines []store.PipelineRecord) (map[string]*App, error) {
	apps := map[string]*App{}
	for _, rec := range states {
		if rec.Environment == "" {
			continue
		}
		name := AppOfState(rec)
		a := apps[name]
		if a == nil {
			a = &App{ClientID: clientID, Name: name, Pipeline: config.DefaultPipeline(clientID, name).Spec, Stacks: map[string]store.StateRecord{}}
			apps[name] = a
		}
		a.Stacks[rec.Environment] = rec
	}
	for _, p := range pipelines {
		a := apps[p.App]
		if a == nil {
			continue
		}
		var spec config.PipelineSpec
		if err := json.Unmarshal(p.Document, &spec); err != nil {
			return nil, fmt.Errorf("pipeline of %s/%s does not decode: %w", clientID, p.App, err)
		}
		a.Pipeline, a.Declared = spec, true
	}
	return apps, nil
}

// LoadApp reads one application of a client: ErrUnknown (wrapped) when no
// stack of the client belongs to it.
func LoadApp(ctx context.Context, st store.Store, clientID, name string) (App, error) {
	members, err := appMembers(ctx, st, clientID)
	if err != nil {
		return App{}, err
	}
	states, err := readStates(ctx, st, clientID, members[name], nil)
	if err != nil {
		return App{}, err
	}
	pipelines, err := st.ListPipelines(ctx, clientID)
	if err != nil {
		return App{}, fmt.Errorf("read pipelines of %s: %w", clientID, err)
	}
	apps, err := Group(clientID, states, pipelines)
	if err != nil {
		return App{}, err
	}
	a, ok := apps[name]
	if !ok {
		return App{}, fmt.Errorf("%w: client %s has no application %q (no stack with an environment belongs to it)", ErrUnknown, clientID, name)
	}
	return *a, nil
}

// appMembers sorts a client's stacks that have an environment into
// applications (config.AppOf) from the store's narrow listing: no
// document is read.
func appMembers(ctx context.Context, st store.Store, clientID string) (map[string][]store.StackApp, error) {
	list, err := st.ListStackApps(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("read stacks of %s: %w", clientID, err)
	}
	members := map[string][]store.StackApp{}
	for _, m := range list {
		if m.Environment != "" {
			name := config.AppOf(m.StackID, m.Environment, m.App)
			members[name] = append(members[name], m)
		}
	}
	return members, nil
}

// readStates reads the records of the listed stacks, taking a known
// record instead when its desired hash and environment are the listed
// ones; a stack deleted since the listing is left out.
func readStates(ctx context.Context, st store.Store, clientID string, list []store.StackApp, known map[string]store.StateRecord) ([]store.StateRecord, error) {
	out := make([]store.StateRecord, 0, len(list))
	for _, m := range list {
		if rec, ok := known[m.StackID]; ok && rec.DesiredHash == m.DesiredHash && rec.Environment == m.Environment {
			out = append(out, rec)
			continue
		}
		rec, err := st.GetState(ctx, clientID, m.StackID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read stacks of %s: %w", clientID, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
