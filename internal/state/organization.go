package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/compliance"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// cachedOrg is the stored OrganizationPolicy, decoded and compiled.
type cachedOrg struct {
	name   string
	spec   *config.OrganizationSpec // nil: none stored
	engine *compliance.Engine
	at     time.Time
}

// Organization returns the stored OrganizationPolicy (nil spec when none
// was applied) and its compiled rules, cached as policies are.
func (s *Service) Organization(ctx context.Context) (*config.OrganizationSpec, *compliance.Engine, error) {
	s.mu.Lock()
	c := s.org
	s.mu.Unlock()
	if c != nil && s.policyTTL > 0 && time.Since(c.at) < s.policyTTL {
		return c.spec, c.engine, nil
	}
	v, err, _ := s.policyLoads.Do("\x00organization", func() (any, error) {
		s.mu.Lock()
		gen := s.policyGen
		s.mu.Unlock()
		c, err := s.loadOrganization(ctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if gen == s.policyGen {
			s.org = c
		}
		s.mu.Unlock()
		return c, nil
	})
	if err != nil {
		return nil, nil, err
	}
	c = v.(*cachedOrg)
	return c.spec, c.engine, nil
}

func (s *Service) loadOrganization(ctx context.Context) (*cachedOrg, error) {
	rec, err := s.store.GetOrganizationPolicy(ctx)
	if errors.Is(err, store.ErrNotFound) {
		e, _ := compliance.Compile(nil, nil)
		return &cachedOrg{engine: e, at: time.Now()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read organization policy: %w", err)
	}
	var spec config.OrganizationSpec
	if err := json.Unmarshal(rec.Document, &spec); err != nil {
		return nil, fmt.Errorf("decode organization policy: %w", err)
	}
	e, err := compliance.Compile(&spec, func(string) config.Place { return config.Place{} })
	if err != nil {
		return nil, fmt.Errorf("%w: the stored organization policy %q no longer compiles: %v", ErrInvalid, rec.Name, err)
	}
	return &cachedOrg{name: rec.Name, spec: &spec, engine: e, at: time.Now()}, nil
}

// Explained is a stack's effective policy with the level that set each
// field.
type Explained struct {
	Spec   config.PolicySpec
	Fields []config.FieldSource
	// Organization names the OrganizationPolicy in force ("" when none).
	Organization string
}

// ExplainPolicy computes the effective policy of a stack (stackID empty:
// of the client's stacks without a policy of their own) and its
// provenance.
func (s *Service) ExplainPolicy(ctx context.Context, clientID, stackID string) (Explained, error) {
	org, _, err := s.Organization(ctx)
	if err != nil {
		return Explained{}, err
	}
	specs, err := s.clientPolicies(ctx, clientID)
	if err != nil {
		return Explained{}, err
	}
	var stackPol *config.PolicySpec
	if stackID != "" {
		stackPol = specs[stackID]
	}
	spec, fields := config.ExplainPolicy(org, specs[""], stackPol)
	ex := Explained{Spec: spec, Fields: fields}
	s.mu.Lock()
	if s.org != nil {
		ex.Organization = s.org.name
	}
	s.mu.Unlock()
	return ex, nil
}

// guardConfig refuses a config that breaks the organisation's rules, as
// *config.Errors at the places of the file: rules that do not compile,
// exceptions already expired, and stacks (the file's, and the stored
// stacks of clients whose policy the file changes) that an enforced rule
// judges noncompliant.
func (s *Service) guardConfig(ctx context.Context, cfg *config.Config) error {
	org, engine, err := s.Organization(ctx)
	if err != nil && cfg.Organization == nil {
		return err
	}
	if cfg.Organization != nil {
		org = &cfg.Organization.Spec
		if engine, err = compliance.CheckConfig(cfg, s.now()); err != nil {
			return err
		}
	}
	var errs config.Errors
	for _, p := range cfg.Policies {
		m := p.Metadata
		if locked := config.LockViolations(org, &p.Spec); len(locked) > 0 {
			key := m.ClientID
			if m.StackID != "" {
				key += "/" + m.StackID
			}
			errs = append(errs, cfg.Where(config.PlaceKey(config.KindReconciliationPolicy, key)).Errorf(
				"ReconciliationPolicy %s sets %s, locked by the OrganizationPolicy", key, joinFields(locked)))
		}
	}
	if len(engine.Rules()) > 0 {
		bad, err := s.enforceConfig(ctx, cfg, org, engine)
		if err != nil {
			return err
		}
		errs = append(errs, bad...)
	}
	if len(errs) > 0 {
		return &errs
	}
	return nil
}

// enforceConfig judges the stacks a config would change against the
// enforced rules.
func (s *Service) enforceConfig(ctx context.Context, cfg *config.Config, org *config.OrganizationSpec, engine *compliance.Engine) ([]config.Error, error) {
	filePolicies := map[string]*config.PolicySpec{}
	for i := range cfg.Policies {
		m := cfg.Policies[i].Metadata
		filePolicies[m.ClientID+"/"+m.StackID] = &cfg.Policies[i].Spec
	}
	policyOf := func(clientID, stackID string) (config.PolicySpec, error) {
		stored, err := s.clientPolicies(ctx, clientID)
		if err != nil {
			return config.PolicySpec{}, err
		}
		pick := func(stack string) *config.PolicySpec {
			if p, ok := filePolicies[clientID+"/"+stack]; ok {
				return p
			}
			return stored[stack]
		}
		return config.LayeredPolicy(org, pick(""), pick(stackID)), nil
	}
	var out []config.Error
	inFile := map[string]bool{}
	for _, st := range cfg.Stacks {
		inFile[st.Metadata.Key()] = true
		pol, err := policyOf(st.Metadata.ClientID, st.Metadata.StackID)
		if err != nil {
			return nil, err
		}
		at := cfg.Where(config.PlaceKey(config.KindStack, st.Metadata.Key()))
		out = append(out, s.enforce(engine, st.Metadata, st.Spec, pol, at, "Stack "+st.Metadata.Key())...)
	}
	// Stored stacks of the clients whose policy the file declares (every
	// client when it declares the organisation's).
	clients := map[string]bool{}
	for _, p := range cfg.Policies {
		clients[p.Metadata.ClientID] = true
	}
	var scopes []string
	if cfg.Organization != nil {
		scopes = []string{""}
	} else {
		for c := range clients {
			scopes = append(scopes, c)
		}
		slices.Sort(scopes)
	}
	for _, client := range scopes {
		recs, err := store.AllStates(ctx, s.store, client)
		if err != nil {
			return nil, fmt.Errorf("list stacks to check the rules: %w", err)
		}
		for _, rec := range recs {
			if inFile[rec.Key()] {
				continue
			}
			var spec config.StackSpec
			if err := json.Unmarshal(rec.Desired, &spec); err != nil {
				return nil, fmt.Errorf("decode stack %s: %w", rec.Key(), err)
			}
			pol, err := policyOf(rec.ClientID, rec.StackID)
			if err != nil {
				return nil, err
			}
			at := placeOfPolicy(cfg, rec.ClientID, rec.StackID)
			meta := config.StackMeta{ClientID: rec.ClientID, StackID: rec.StackID, Environment: rec.Environment}
			out = append(out, s.enforce(engine, meta, spec, pol, at, "the stored stack "+rec.Key())...)
		}
	}
	return out, nil
}

// placeOfPolicy is where the file declares the policy that governs a
// stored stack: its own, its client's, or the OrganizationPolicy.
func placeOfPolicy(cfg *config.Config, clientID, stackID string) config.Place {
	for _, key := range []string{clientID + "/" + stackID, clientID} {
		if p, ok := cfg.Places[config.PlaceKey(config.KindReconciliationPolicy, key)]; ok {
			return p
		}
	}
	return cfg.Where(config.PlaceKey(config.KindOrganizationPolicy, ""))
}

// enforce evaluates the enforced rules for one stack (its observed state
// unknown: the change is not applied yet) and returns an error at at for
// each that fails without a valid exception.
func (s *Service) enforce(engine *compliance.Engine, meta config.StackMeta, spec config.StackSpec, pol config.PolicySpec, at config.Place, what string) []config.Error {
	var out []config.Error
	in := compliance.Input{Stack: compliance.StackOf(meta, spec), Policy: compliance.PolicyOf(pol)}
	for _, r := range engine.Evaluate(in, s.now()) {
		if r.Mode == config.RuleEnforce && r.Status == compliance.Noncompliant {
			out = append(out, at.Errorf("%s breaks the enforced rule %q: %s", what, r.Rule, r.Message))
		}
	}
	return out
}

// guardPolicy refuses a policy change (PUT of a client's or stack's
// policy) that sets a locked field otherwise, or that an enforced rule
// refuses for one of the stacks it governs.
func (s *Service) guardPolicy(ctx context.Context, clientID, stackID string, spec config.PolicySpec) error {
	org, engine, err := s.Organization(ctx)
	if err != nil {
		return err
	}
	if locked := config.LockViolations(org, &spec); len(locked) > 0 {
		return fmt.Errorf("%w: %s locked by the OrganizationPolicy: a client or stack policy may not set it otherwise", ErrInvalid, joinFields(locked))
	}
	if len(engine.Rules()) == 0 {
		return nil
	}
	p := config.Policy{Metadata: config.PolicyMeta{ClientID: clientID, StackID: stackID}, Spec: spec}
	cfg := &config.Config{Policies: []config.Policy{p}}
	bad, err := s.enforceConfig(ctx, cfg, org, engine)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		msgs := make([]string, len(bad))
		for i, e := range bad {
			msgs[i] = e.Message
		}
		return fmt.Errorf("%w: policy refused, nothing applied: %s", ErrInvalid, joinFields(msgs))
	}
	return nil
}

func joinFields(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// errOrganizationMoved: the stored OrganizationPolicy is no longer the
// one an apply built on (applyOnce).
var errOrganizationMoved = errors.New("the OrganizationPolicy changed since it was read")

// applyOrganization stores the config's OrganizationPolicy when it differs
// from base, the stored one it was built on (nil: none), and only if base
// is still the stored one (else errOrganizationMoved, nothing written);
// it returns the audit entry of the change (nil when unchanged).
func (s *Service) applyOrganization(ctx context.Context, cfg *config.Config, base *store.OrganizationPolicyRecord, by string) (*store.AuditEntry, error) {
	o := cfg.Organization
	if o == nil {
		return nil, nil
	}
	doc, err := json.Marshal(o.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode organization policy: %w", err)
	}
	if base != nil && base.Name == o.Metadata.Name && string(base.Document) == string(doc) {
		return nil, nil
	}
	next := store.OrganizationPolicyRecord{Name: o.Metadata.Name, Document: doc, UpdatedAt: s.now()}
	if base == nil {
		// None was stored: no API exception can have been added since
		// (they need a stored policy).
		err = s.store.PutOrganizationPolicy(ctx, next)
	} else {
		err = s.store.SwapOrganizationPolicy(ctx, *base, next)
	}
	if errors.Is(err, store.ErrConflict) {
		return nil, errOrganizationMoved
	}
	if err != nil {
		return nil, fmt.Errorf("write organization policy: %w", err)
	}
	s.ForgetPolicies("")
	return &store.AuditEntry{Timestamp: s.now(), Action: "organization_policy_changed", TriggeredBy: by, Success: true, ChangesMade: doc}, nil
}

// Engine is the compiled rules of the stored OrganizationPolicy.
func (s *Service) Engine(ctx context.Context) (*compliance.Engine, error) {
	_, e, err := s.Organization(ctx)
	return e, err
}
