package rollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/heal"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/store"
)

// Deployer reads and restores a host's live deployment; *build.DeployClient.
type Deployer interface {
	Live(ctx context.Context, d config.DeployAPI) (build.Deployment, error)
	Restore(ctx context.Context, d config.DeployAPI, id string) error
}

// SourceBuilder builds an earlier source version; *build.Builder.
type SourceBuilder interface {
	TriggerSource(ctx context.Context, b provider.Binding, sourceVersion string) (build.BuildResult, error)
}

// Aliaser is a provider driver that reads and retargets the binding's
// environment alias; *contentful.Driver.
type Aliaser interface {
	AliasTarget(ctx context.Context, b provider.Binding) (alias, environment string, err error)
	SetAliasTarget(ctx context.Context, b provider.Binding, environment string) error
}

// Capturer reads what the providers run for a stack.
type Capturer struct {
	Registry *provider.Registry
	// Heal finds our subscription of each integration (heal.Actions.Matching).
	Heal     *heal.Actions
	Deployer Deployer
	// Events gives the last successful build's source version (CodeBuild).
	Events interface {
		ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error)
	}
}

// Capture returns the components of a snapshot of the stack: the build
// and the alias read now, the subscriptions and dns answers from the
// pass's observation. It fails when any declared component is not known
// (a snapshot is only known-good whole).
func (c *Capturer) Capture(ctx context.Context, clientID, stackID string, spec config.StackSpec, obs drift.Observed) (store.SnapshotComponents, error) {
	bindings, err := c.Registry.Bindings(clientID, stackID, spec)
	if err != nil {
		return store.SnapshotComponents{}, err
	}
	var out store.SnapshotComponents
	if b, ok := bindings[config.RoleSSG]; ok && b.Build != nil {
		if out.Build, err = c.captureBuild(ctx, b); err != nil {
			return out, err
		}
	}
	if out.CMSAlias, err = c.captureAlias(ctx, bindings); err != nil {
		return out, err
	}
	if out.Subscriptions, err = c.captureSubscriptions(bindings, spec, obs); err != nil {
		return out, err
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Resources)) {
		if spec.Resources[name].Probe != config.ProbeDNS {
			continue
		}
		o, ok := obs.Resources[name]
		if !ok || o.Status != drift.StatusHealthy {
			return out, fmt.Errorf("dns resource %s is not healthy", name)
		}
		out.DNS = append(out.DNS, store.DNSSnapshot{Resource: name, Answers: slices.Clone(o.Answers)})
	}
	return out, nil
}

func (c *Capturer) captureBuild(ctx context.Context, b provider.Binding) (*store.BuildSnapshot, error) {
	switch {
	case b.Build.Deploy != nil && c.Deployer != nil:
		live, err := c.Deployer.Live(ctx, *b.Build.Deploy)
		if err != nil {
			return nil, fmt.Errorf("read the live deployment: %w", err)
		}
		if live.ID == "" {
			return nil, nil
		}
		return &store.BuildSnapshot{Driver: b.Build.Driver, Host: b.Build.Deploy.Host, DeployID: live.ID, SourceVersion: live.Commit}, nil
	case b.Build.Driver == build.DriverCodeBuild && c.Events != nil:
		v, err := c.lastSourceVersion(ctx, b)
		if err != nil || v == "" {
			return nil, err
		}
		return &store.BuildSnapshot{Driver: build.DriverCodeBuild, SourceVersion: v}, nil
	}
	return nil, nil
}

// lastSourceVersion is the source version of the stack's newest
// successful build event ("" when none says).
func (c *Capturer) lastSourceVersion(ctx context.Context, b provider.Binding) (string, error) {
	evs, _, err := c.Events.ListEvents(ctx, store.EventQuery{ClientID: b.ClientID, EventType: build.EventSucceeded, Limit: 100})
	if err != nil {
		return "", fmt.Errorf("read build events: %w", err)
	}
	for _, ev := range evs {
		if ev.StackID != b.StackID {
			continue
		}
		var res build.BuildResult
		if json.Unmarshal(ev.Payload, &res) == nil && res.SourceVersion != "" {
			return res.SourceVersion, nil
		}
		return "", nil
	}
	return "", nil
}

// captureAlias reads the alias of the first role (sorted) that names one.
func (c *Capturer) captureAlias(ctx context.Context, bindings map[string]provider.Binding) (*store.AliasSnapshot, error) {
	for _, role := range slices.Sorted(maps.Keys(bindings)) {
		b := bindings[role]
		al, ok := c.aliaser(b)
		if !ok {
			continue
		}
		alias, env, err := al.AliasTarget(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("read the %s environment alias: %w", b.Name, err)
		}
		return &store.AliasSnapshot{Role: role, Provider: b.Name, Alias: alias, Environment: env}, nil
	}
	return nil, nil
}

// aliaser is the binding's driver when it names an alias and its driver
// can read one.
func (c *Capturer) aliaser(b provider.Binding) (Aliaser, bool) {
	if b.Setting(contentful.AliasSetting, "") == "" {
		return nil, false
	}
	d, ok := c.Registry.Driver(b.Name)
	if !ok {
		return nil, false
	}
	al, ok := d.(Aliaser)
	return al, ok
}

func (c *Capturer) captureSubscriptions(bindings map[string]provider.Binding, spec config.StackSpec, obs drift.Observed) ([]store.SubscriptionSnapshot, error) {
	var out []store.SubscriptionSnapshot
	for _, name := range slices.Sorted(maps.Keys(spec.Integrations)) {
		ig := spec.Integrations[name]
		b, ok := bindings[ig.Provider]
		if !ok {
			continue
		}
		po, ok := obs.Providers[ig.Provider]
		if !ok || po.Reachability != drift.Reachable || !po.SubscriptionsKnown {
			return nil, fmt.Errorf("the subscriptions of %s were not seen", b.Name)
		}
		sub, ok := c.Heal.Matching(b, provider.Integration{Name: name, Integration: ig}, po.Subscriptions)
		if !ok {
			return nil, fmt.Errorf("integration %s has no subscription", name)
		}
		topics := slices.Clone(sub.Topics)
		slices.Sort(topics)
		out = append(out, store.SubscriptionSnapshot{Integration: name, Role: ig.Provider, ID: sub.ID, Topics: topics, APIVersion: sub.APIVersion})
	}
	return out, nil
}

// Match is one component of a snapshot compared with what runs.
type Match struct {
	Component string `json:"component"`
	Match     bool   `json:"match"`
	Want      string `json:"want"`
	Got       string `json:"got"`
}

// Compare matches each component of want (a snapshot) with got (what
// runs now): the build by deployment id (or source version), the alias by
// target, each subscription by topics and API version (its id may change
// when it is recreated), each dns resource by its answers.
func Compare(want, got store.SnapshotComponents) []Match {
	var out []Match
	if w := want.Build; w != nil {
		m := Match{Component: "build", Want: buildText(w), Got: buildText(got.Build)}
		m.Match = m.Want == m.Got
		out = append(out, m)
	}
	if w := want.CMSAlias; w != nil {
		m := Match{Component: "cms_alias", Want: w.Alias + "->" + w.Environment}
		if g := got.CMSAlias; g != nil {
			m.Got = g.Alias + "->" + g.Environment
		}
		m.Match = m.Want == m.Got
		out = append(out, m)
	}
	for _, w := range want.Subscriptions {
		m := Match{Component: "subscription:" + w.Integration, Want: subText(w)}
		for _, g := range got.Subscriptions {
			if g.Integration == w.Integration {
				m.Got = subText(g)
			}
		}
		m.Match = m.Want == m.Got
		out = append(out, m)
	}
	for _, w := range want.DNS {
		m := Match{Component: "dns:" + w.Resource, Want: strings.Join(w.Answers, ",")}
		for _, g := range got.DNS {
			if g.Resource == w.Resource {
				m.Got = strings.Join(g.Answers, ",")
			}
		}
		m.Match = m.Want == m.Got
		out = append(out, m)
	}
	return out
}

// Matched counts the matching components.
func Matched(ms []Match) int {
	n := 0
	for _, m := range ms {
		if m.Match {
			n++
		}
	}
	return n
}

func buildText(b *store.BuildSnapshot) string {
	switch {
	case b == nil:
		return ""
	case b.DeployID != "":
		return b.Host + " deployment " + b.DeployID
	}
	return "source " + b.SourceVersion
}

func subText(s store.SubscriptionSnapshot) string {
	return strings.Join(s.Topics, ",") + "@" + s.APIVersion
}

// errNothing marks a step with nothing to restore.
var errNothing = errors.New("nothing recorded to restore")
