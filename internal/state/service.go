// Package state turns configuration into versioned desired state in the
// store: apply, policy changes and rollback, each audited, with a hook that
// asks the reconciler for a pass of every stack that changed.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// ErrInvalid marks a request that is well-formed but not acceptable (a
// rollback target that is not a semver version, a stored document that no
// longer validates).
var ErrInvalid = errors.New("invalid")

// ErrPinned marks a change refused because a rollback's hold pins the
// stack's desired state (store.Hold).
var ErrPinned = errors.New("pinned")

// MaxHold is the longest hold a rollback may set.
const MaxHold = 7 * 24 * time.Hour

// Service applies desired state.
type Service struct {
	store    store.Store
	log      *slog.Logger
	now      func() time.Time
	onChange func(clientID, stackID string)
	// metricsEndpoint is recorded in each StateRecord's observability block.
	metricsEndpoint string

	// Policies are read on every pass and change rarely: they are cached
	// for policyTTL, and dropped at once when this process writes one.
	// Another replica's write is seen within policyTTL.
	policyTTL time.Duration
	mu        sync.Mutex
	policies  map[string]cachedPolicies // by client id
	// policyLoads joins concurrent reads of one client's policies.
	policyLoads singleflight.Group
	policyGen   int // counts ForgetPolicies

	// file is what the server's config file declared (hold.go), under mu.
	file *fileDeclared
	// org is the stored OrganizationPolicy, compiled (organization.go),
	// under mu; nil until read and after a local write.
	org *cachedOrg
	// orgMu serialises this process's writes of the stored
	// OrganizationPolicy (an apply of one, an exception added or removed
	// through the API: exceptions.go).
	orgMu sync.Mutex
}

// cachedPolicies are a client's decoded policies by stack id.
type cachedPolicies struct {
	specs map[string]*config.PolicySpec
	at    time.Time
}

// Options configure a Service.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// OnChange is called for every stack whose desired state or policy
	// changed, after the change committed.
	OnChange func(clientID, stackID string)
	// MetricsEndpoint is the /metrics address shown in state records.
	MetricsEndpoint string
	// PolicyCacheTTL bounds how long a policy read is reused (default
	// 1m; negative disables the cache). A local write drops the cache at
	// once, and so does another replica's (ForgetPolicies, told through
	// the replicas' trigger channel): the TTL bounds how stale a read is
	// when that word is lost.
	PolicyCacheTTL time.Duration
}

// New returns a Service over st.
func New(st store.Store, opts Options) *Service {
	s := &Service{store: st, log: opts.Logger, now: opts.Now, onChange: opts.OnChange, metricsEndpoint: opts.MetricsEndpoint,
		policyTTL: opts.PolicyCacheTTL, policies: map[string]cachedPolicies{}}
	if s.policyTTL == 0 {
		s.policyTTL = time.Minute
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.onChange == nil {
		s.onChange = func(string, string) {}
	}
	return s
}

// PolicyResult says what an apply did to one policy of the config.
type PolicyResult struct {
	ClientID string `json:"client_id"`
	// StackID is empty for a client-wide policy.
	StackID string `json:"stack_id"`
	// Created: there was no policy for (client, stack) before.
	Created bool `json:"created"`
	// Changed: the stored document differed (or there was none).
	Changed bool `json:"changed"`
}

// Applied is what ApplyConfig did: each stack and each policy of the
// config, changed or not.
type Applied struct {
	Stacks   []store.ApplyResult
	Policies []PolicyResult
}

// Apply is ApplyConfig's stack results.
func (s *Service) Apply(ctx context.Context, cfg *config.Config, by string) ([]store.ApplyResult, error) {
	a, err := s.ApplyConfig(ctx, cfg, by)
	return a.Stacks, err
}

// ApplyConfig writes a whole validated config: every stack's desired state
// (a new version only where the desired hash changed) and every policy.
// Stacks absent from cfg are left alone. by names who applied (for the
// audit).
func (s *Service) ApplyConfig(ctx context.Context, cfg *config.Config, by string) (Applied, error) {
	results, policies, err := s.apply(ctx, cfg, by)
	return Applied{Stacks: results, Policies: policies}, err
}

func (s *Service) apply(ctx context.Context, cfg *config.Config, by string) ([]store.ApplyResult, []PolicyResult, error) {
	if cfg.Organization == nil {
		return s.applyOnce(ctx, cfg, nil, by)
	}
	// The API's exceptions are kept (exceptions.go): the OrganizationPolicy
	// is written only if it is still the one they were read from, its
	// first write. When another replica changed it in between (an
	// exception added there), nothing was written and the apply starts
	// again from a new read.
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	for range swapAttempts {
		kept, base, err := s.keepAPIExceptions(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		results, policies, err := s.applyOnce(ctx, kept, base, by)
		if errors.Is(err, errOrganizationMoved) {
			continue
		}
		return results, policies, err
	}
	return nil, nil, ErrConcurrentChange
}

// applyOnce writes cfg; base is the stored OrganizationPolicy that cfg's
// was built on (nil: none was stored), and applyOrganization fails with
// errOrganizationMoved, before anything is written, when it is no longer
// the stored one.
func (s *Service) applyOnce(ctx context.Context, cfg *config.Config, base *store.OrganizationPolicyRecord, by string) ([]store.ApplyResult, []PolicyResult, error) {
	if err := s.guardConfig(ctx, cfg); err != nil {
		return nil, nil, err
	}
	org, _, err := s.Organization(ctx)
	if err != nil && cfg.Organization == nil {
		return nil, nil, err
	}
	if cfg.Organization != nil {
		org = &cfg.Organization.Spec
	}
	inputs := make([]store.DesiredInput, 0, len(cfg.Stacks))
	for _, st := range cfg.Stacks {
		in, err := s.desiredInput(st, cfg.PolicyUnder(org, st.Metadata.ClientID, st.Metadata.StackID), by)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, in)
	}
	// Policies first: a pass triggered by the stack change must see them.
	orgAudit, err := s.applyOrganization(ctx, cfg, base, by)
	if err != nil {
		return nil, nil, err
	}
	var changedPolicies []store.PolicyRecord
	policies := make([]PolicyResult, 0, len(cfg.Policies))
	for _, p := range cfg.Policies {
		pr := PolicyResult{ClientID: p.Metadata.ClientID, StackID: p.Metadata.StackID}
		doc, err := json.Marshal(p.Spec)
		if err != nil {
			return nil, nil, fmt.Errorf("encode policy %s/%s: %w", p.Metadata.ClientID, p.Metadata.StackID, err)
		}
		old, err := s.store.GetPolicy(ctx, p.Metadata.ClientID, p.Metadata.StackID)
		if err == nil && string(old.Document) == string(doc) {
			policies = append(policies, pr)
			continue
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("read policy %s/%s: %w", p.Metadata.ClientID, p.Metadata.StackID, err)
		}
		pr.Created, pr.Changed = err != nil, true
		rec := store.PolicyRecord{ClientID: p.Metadata.ClientID, StackID: p.Metadata.StackID, Document: doc, UpdatedAt: s.now()}
		if err := s.store.PutPolicy(ctx, rec); err != nil {
			return nil, nil, fmt.Errorf("write policy %s/%s: %w", p.Metadata.ClientID, p.Metadata.StackID, err)
		}
		s.ForgetPolicies("")
		changedPolicies = append(changedPolicies, rec)
		policies = append(policies, pr)
	}
	// Pipelines before stacks too: a pass judges divergence by them.
	audit, err := s.applyPipelines(ctx, cfg, by)
	if err != nil {
		return nil, nil, err
	}
	results, err := s.store.ApplyDesired(ctx, inputs)
	if err != nil {
		return nil, nil, fmt.Errorf("apply desired state: %w", err)
	}
	if orgAudit != nil {
		audit = append([]store.AuditEntry{*orgAudit}, audit...)
	}
	for i, r := range results {
		if !r.Changed {
			continue
		}
		changes, _ := json.Marshal(map[string]any{"state_version": r.Version, "desired_hash": r.Hash, "created": r.Created,
			"environment": inputs[i].Environment})
		audit = append(audit, store.AuditEntry{
			Timestamp: s.now(), Action: "desired_state_changed", ClientID: r.ClientID, StackID: r.StackID,
			TriggeredBy: by, Success: true, ChangesMade: changes,
		})
	}
	for i, r := range results {
		if r.Pinned == nil {
			continue
		}
		// Kept: the input was not applied (a config applied at start, on
		// SIGHUP or through the API, while a rollback's hold lasts).
		changes, _ := json.Marshal(map[string]any{"reason": "pinned", "state_version": r.Version, "desired_hash": r.Hash,
			"pinned_until": r.Pinned.Until, "not_applied_hash": inputs[i].Hash, "not_applied_environment": inputs[i].Environment})
		audit = append(audit, store.AuditEntry{
			Timestamp: s.now(), Action: "desired_state_kept", ClientID: r.ClientID, StackID: r.StackID,
			TriggeredBy: by, Success: true, ChangesMade: changes,
		})
	}
	for _, p := range changedPolicies {
		audit = append(audit, store.AuditEntry{
			Timestamp: s.now(), Action: "policy_changed", ClientID: p.ClientID, StackID: p.StackID,
			TriggeredBy: by, Success: true, ChangesMade: p.Document,
		})
	}
	if len(audit) > 0 {
		if err := s.store.AppendAudit(ctx, audit); err != nil {
			return results, policies, fmt.Errorf("audit apply: %w", err)
		}
	}
	for _, r := range results {
		if r.Changed {
			s.onChange(r.ClientID, r.StackID)
		}
	}
	for _, p := range changedPolicies {
		s.changedPolicy(ctx, p.ClientID, p.StackID)
	}
	if orgAudit != nil {
		s.changedPolicy(ctx, "", "")
	}
	return results, policies, nil
}

// desiredInput builds the store input of one stack.
func (s *Service) desiredInput(st config.Stack, pol config.PolicySpec, by string) (store.DesiredInput, error) {
	doc, sum, err := config.Hash(st.Spec)
	if err != nil {
		return store.DesiredInput{}, fmt.Errorf("hash stack %s: %w", st.Metadata.Key(), err)
	}
	return store.DesiredInput{
		ClientID: st.Metadata.ClientID, StackID: st.Metadata.StackID, Environment: st.Metadata.Environment,
		Hash: sum, Document: doc,
		Resources:     resourceSummary(st.Spec),
		Policy:        PolicySummary(pol),
		Observability: store.ObservabilitySummary{MetricsEndpoint: s.metricsEndpoint, AlertChannels: ChannelNames(pol)},
		AppliedBy:     by,
	}, nil
}

// resourceSummary is the spec's StateRecord.resources map: what each
// resource is, by name.
func resourceSummary(spec config.StackSpec) map[string]string {
	out := make(map[string]string, len(spec.Resources)+1)
	for name, r := range spec.Resources {
		switch r.Probe {
		case config.ProbeHTTP:
			out[name] = r.URL
		case config.ProbeDNS:
			out[name] = r.Name
		default:
			out[name] = r.Address
		}
	}
	if ssg, ok := spec.Providers[config.RoleSSG]; ok && ssg.Build != nil && ssg.Build.ProjectName != "" {
		out["build_project_name"] = ssg.Build.ProjectName
	}
	return out
}

// PolicySummary is the spec's StateRecord.reconciliation_policy of a policy.
func PolicySummary(p config.PolicySpec) store.PolicySummary {
	return store.PolicySummary{
		AutoHeal:        p.AutoHeal.Enabled,
		MaxHealAttempts: p.AutoHeal.MaxAttempts,
		HealBackoff:     p.AutoHeal.BackoffStrategy,
		RequireApproval: append([]string{}, p.AutoHeal.RequireApproval...),
	}
}

// ChannelNames is the spec's StateRecord.observability.alert_channels of a
// policy: the channels it notifies, by name or type.
func ChannelNames(p config.PolicySpec) []string {
	out := []string{}
	for _, c := range p.Notifications.Channels {
		if c.Ref != "" {
			out = append(out, c.Ref)
		} else {
			out = append(out, c.Type)
		}
	}
	return out
}

// Policy returns the effective policy of a stack (stackID empty: of the
// client): the stack's own, else the client's, else the default.
func (s *Service) Policy(ctx context.Context, clientID, stackID string) (config.PolicySpec, error) {
	org, _, err := s.Organization(ctx)
	if err != nil {
		return config.PolicySpec{}, err
	}
	specs, err := s.clientPolicies(ctx, clientID)
	if err != nil {
		return config.PolicySpec{}, err
	}
	var stackPol *config.PolicySpec
	if stackID != "" {
		stackPol = specs[stackID]
	}
	return config.LayeredPolicy(org, specs[""], stackPol), nil
}

// clientPolicies returns the client's stored policies by stack id ("" for
// the client-wide one). They are read together (ListPolicies), so the
// passes of a client's stacks share one read per policyTTL instead of one
// or two each.
func (s *Service) clientPolicies(ctx context.Context, clientID string) (map[string]*config.PolicySpec, error) {
	if s.policyTTL > 0 {
		s.mu.Lock()
		c, ok := s.policies[clientID]
		s.mu.Unlock()
		if ok && time.Since(c.at) < s.policyTTL {
			return c.specs, nil
		}
	}
	if s.policyTTL <= 0 {
		return s.loadPolicies(ctx, clientID)
	}
	// The passes of a client's stacks miss together (all at start, say):
	// one of them reads, the others wait for its answer.
	v, err, _ := s.policyLoads.Do(clientID, func() (any, error) {
		s.mu.Lock()
		gen := s.policyGen
		s.mu.Unlock()
		specs, err := s.loadPolicies(ctx, clientID)
		s.mu.Lock()
		if err == nil && gen == s.policyGen {
			// (A local write since the read began dropped the cache:
			// this read may predate it.)
			s.policies[clientID] = cachedPolicies{specs: specs, at: time.Now()}
		}
		s.mu.Unlock()
		return specs, err
	})
	if err != nil {
		return nil, err
	}
	return v.(map[string]*config.PolicySpec), nil
}

// ForgetPolicies drops what is cached of a client's policies (every
// client's for "", as after a local write), and of the organisation's:
// another replica changed the desired state or a policy of one of the
// client's stacks (a change of the organisation's policy asks for a pass
// of every stack). A read that began before is not cached.
func (s *Service) ForgetPolicies(clientID string) {
	s.mu.Lock()
	if clientID == "" {
		clear(s.policies)
	} else {
		delete(s.policies, clientID)
	}
	s.org = nil
	s.policyGen++
	s.mu.Unlock()
}

// loadPolicies reads the client's policies from the store, by stack id
// ("" for the client-wide one).
func (s *Service) loadPolicies(ctx context.Context, clientID string) (map[string]*config.PolicySpec, error) {
	recs, err := s.store.ListPolicies(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("read policies of %s: %w", clientID, err)
	}
	specs := make(map[string]*config.PolicySpec, len(recs))
	for _, rec := range recs {
		var p config.PolicySpec
		if err := json.Unmarshal(rec.Document, &p); err != nil {
			return nil, fmt.Errorf("decode policy %s/%s: %w", clientID, rec.StackID, err)
		}
		specs[rec.StackID] = &p
	}
	return specs, nil
}

// PutPolicy stores a validated policy for a client (stackID empty) or one
// stack, audits it and asks for a pass of the stacks it governs.
func (s *Service) PutPolicy(ctx context.Context, clientID, stackID string, spec config.PolicySpec, by string) error {
	if err := s.guardPolicy(ctx, clientID, stackID, spec); err != nil {
		return err
	}
	doc, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	rec := store.PolicyRecord{ClientID: clientID, StackID: stackID, Document: doc, UpdatedAt: s.now()}
	if err := s.store.PutPolicy(ctx, rec); err != nil {
		return fmt.Errorf("write policy %s/%s: %w", clientID, stackID, err)
	}
	s.ForgetPolicies("")
	if err := s.store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: s.now(), Action: "policy_changed", ClientID: clientID, StackID: stackID,
		TriggeredBy: by, Success: true, ChangesMade: doc,
	}}); err != nil {
		return fmt.Errorf("audit policy change: %w", err)
	}
	s.changedPolicy(ctx, clientID, stackID)
	return nil
}

// changedPolicy asks for a pass of every stack a policy governs (every
// stack for the organisation's: clientID empty).
func (s *Service) changedPolicy(ctx context.Context, clientID, stackID string) {
	if stackID != "" {
		s.onChange(clientID, stackID)
		return
	}
	recs, err := store.AllStates(ctx, s.store, clientID)
	if err != nil {
		s.log.WarnContext(ctx, "list stacks after policy change", "client_id", clientID, "error", err)
		return
	}
	for _, r := range recs {
		s.onChange(r.ClientID, r.StackID)
	}
}

// RollbackRequest asks Rollback to make a stored version the desired
// state again.
type RollbackRequest struct {
	ClientID, StackID string
	// Version is the stored version whose document is restored.
	Version string
	// By names who rolls back (for the audit).
	By string
	// Hold, when positive, pins the stack at the restored desired state for
	// this long (at most MaxHold): a config applied meanwhile (at start, on
	// SIGHUP, through the API) does not overwrite it. A stack whose policy
	// says rollback.forbid_hold refuses it (ErrInvalid, nothing changed).
	Hold time.Duration
	// Snapshot names the known-good snapshot restored with the version
	// (recorded in the hold).
	Snapshot string
}

// Rollback makes a stored version the desired state again. The rollback is
// itself a new version (its number bumped), so history only grows. A stack
// pinned by an earlier hold is rolled back only with a new hold (which
// replaces it): ErrPinned otherwise.
func (s *Service) Rollback(ctx context.Context, req RollbackRequest) (store.ApplyResult, error) {
	clientID, stackID, version := req.ClientID, req.StackID, req.Version
	if !ValidVersion(version) {
		return store.ApplyResult{}, fmt.Errorf("%w: rollback target %q is not a version like v1.2.0", ErrInvalid, version)
	}
	if req.Hold < 0 || req.Hold > MaxHold {
		return store.ApplyResult{}, fmt.Errorf("%w: a hold lasts at most 7 days, not %s", ErrInvalid, req.Hold)
	}
	cur, err := s.store.GetState(ctx, clientID, stackID)
	if err != nil {
		return store.ApplyResult{}, fmt.Errorf("read stack %s/%s: %w", clientID, stackID, err)
	}
	v, err := s.store.GetDesiredVersion(ctx, clientID, stackID, version)
	if err != nil {
		return store.ApplyResult{}, fmt.Errorf("read version %s of %s/%s: %w", version, clientID, stackID, err)
	}
	var spec config.StackSpec
	if err := json.Unmarshal(v.Document, &spec); err != nil {
		return store.ApplyResult{}, fmt.Errorf("%w: version %s no longer decodes: %v", ErrInvalid, version, err)
	}
	pol, err := s.Policy(ctx, clientID, stackID)
	if err != nil {
		return store.ApplyResult{}, err
	}
	if req.Hold > 0 && pol.Rollback.ForbidHold {
		return store.ApplyResult{}, fmt.Errorf("%w: the policy of %s/%s forbids pinning it (rollback.forbid_hold): roll back without --hold", ErrInvalid, clientID, stackID)
	}
	st := config.Stack{
		APIVersion: config.APIVersion, Kind: config.KindStack,
		Metadata: config.StackMeta{ClientID: clientID, StackID: stackID, Environment: cur.Environment},
		Spec:     spec,
	}
	in, err := s.desiredInput(st, pol, req.By)
	if err != nil {
		return store.ApplyResult{}, err
	}
	now := s.now()
	if req.Hold > 0 {
		in.Hold = &store.Hold{Restored: version, Snapshot: req.Snapshot, Until: now.Add(req.Hold), By: req.By, At: now}
	}
	res, err := s.store.ApplyDesired(ctx, []store.DesiredInput{in})
	if err != nil {
		return store.ApplyResult{}, fmt.Errorf("apply rollback: %w", err)
	}
	if h := res[0].Pinned; h != nil {
		return store.ApplyResult{}, fmt.Errorf("%w: stack %s/%s is pinned at %s until %s by a rollback hold: roll back with a hold of its own, or end it first (blackwell unpin %s/%s)",
			ErrPinned, clientID, stackID, h.Version, h.Until.UTC().Format(time.RFC3339), clientID, stackID)
	}
	change := map[string]any{"from_version": cur.StateVersion, "to_version": res[0].Version, "restored": version, "desired_hash": res[0].Hash}
	if req.Snapshot != "" {
		change["snapshot"] = req.Snapshot
	}
	if in.Hold != nil {
		change["hold_until"] = store.Truncate(in.Hold.Until)
	}
	changes, _ := json.Marshal(change)
	if err := s.store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: now, Action: "rollback", ClientID: clientID, StackID: stackID,
		TriggeredBy: req.By, Success: true, ChangesMade: changes,
	}}); err != nil {
		return res[0], fmt.Errorf("audit rollback: %w", err)
	}
	if res[0].Changed {
		s.onChange(clientID, stackID)
	}
	return res[0], nil
}

// ValidVersion reports whether v is a version as the store writes them:
// "v" followed by three dot-separated non-negative integers.
func ValidVersion(v string) bool {
	var a, b, c int
	var rest string
	n, _ := fmt.Sscanf(v, "v%d.%d.%d%s", &a, &b, &c, &rest)
	if n != 3 || a < 0 || b < 0 || c < 0 {
		return false
	}
	return fmt.Sprintf("v%d.%d.%d", a, b, c) == v
}
