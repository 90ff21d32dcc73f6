package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// Compliance exceptions added and removed through the API (blackwell
// exception add|list|remove), without applying the OrganizationPolicy
// again.
//
// They are kept in the stored OrganizationPolicy document beside the ones
// it declares, marked Source "api", so that every path that judges an
// exception (apply, every pass's evaluation, reports, the CLI) judges them
// the same way, at the time of use: once expired, an exception exempts
// nothing. Applying the OrganizationPolicy again (the server's config file
// at start or on SIGHUP, POST /v1/config) keeps the API's exceptions
// unless the document declares one for the same rule, client and stack:
// the file is the source of truth for what it declares, so its exception
// replaces the API's. Those expired or for a rule the document no longer
// declares are dropped then. An exception the document declares cannot
// be added over nor removed through the API (ErrDeclared).

// ErrDeclared is returned for an exception the OrganizationPolicy
// document declares: it changes there.
var ErrDeclared = errors.New("declared by the OrganizationPolicy")

// ErrNoOrganization is returned when no OrganizationPolicy was applied:
// there is no rule to except.
var ErrNoOrganization = fmt.Errorf("%w: no OrganizationPolicy is applied, so there is no rule to except", ErrInvalid)

// Exception is a stored exception and whether it still holds.
type Exception struct {
	config.RuleException
	// Expired: its expiry has passed; it exempts nothing.
	Expired bool `json:"expired"`
}

// Exceptions lists the exceptions of the stored OrganizationPolicy,
// declared and added through the API, of one client ("" every client),
// by rule, client and stack.
func (s *Service) Exceptions(ctx context.Context, clientID string) ([]Exception, error) {
	_, spec, err := s.storedOrganization(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return []Exception{}, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []Exception{}
	for _, x := range spec.Exceptions {
		if clientID == "" || x.ClientID == clientID {
			out = append(out, Exception{RuleException: x, Expired: !now.Before(x.ExpiresAt())})
		}
	}
	slices.SortFunc(out, func(a, b Exception) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.ClientID, b.ClientID), strings.Compare(a.StackID, b.StackID))
	})
	return out, nil
}

// AddException adds an exception through the API, or replaces the API's
// exception of the same rule, client and stack (replaced true). It is
// refused (ErrInvalid, nothing written) for a rule the stored
// OrganizationPolicy does not declare, without an owner or a reason, with
// an expiry that is not an RFC 3339 time in the future; for a stack that
// does not exist, store.ErrNotFound; for one the document declares,
// ErrDeclared. Audited as exception_added; the stacks it covers are
// evaluated again by a pass.
func (s *Service) AddException(ctx context.Context, x config.RuleException, by string) (Exception, bool, error) {
	x.Source = config.ExceptionFromAPI
	now := s.now()
	switch {
	case x.Rule == "":
		return Exception{}, false, fmt.Errorf("%w: the exception names no rule", ErrInvalid)
	case !config.ValidID(x.ClientID):
		return Exception{}, false, fmt.Errorf("%w: %q is not a client id", ErrInvalid, x.ClientID)
	case x.StackID != "" && !config.ValidID(x.StackID):
		return Exception{}, false, fmt.Errorf("%w: %q is not a stack id", ErrInvalid, x.StackID)
	case x.Owner == "":
		return Exception{}, false, fmt.Errorf("%w: an exception needs an owner (who answers for it)", ErrInvalid)
	case x.Reason == "":
		return Exception{}, false, fmt.Errorf("%w: an exception needs a reason", ErrInvalid)
	case x.Expires == "" || x.ExpiresAt().IsZero():
		return Exception{}, false, fmt.Errorf("%w: expires %q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", ErrInvalid, x.Expires)
	case !now.Before(x.ExpiresAt()):
		return Exception{}, false, fmt.Errorf("%w: the exception would have expired already (at %s)", ErrInvalid, x.Expires)
	}
	x.Expires = x.ExpiresAt().UTC().Format(time.RFC3339)
	if x.StackID != "" {
		if _, err := s.store.GetState(ctx, x.ClientID, x.StackID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return Exception{}, false, fmt.Errorf("stack %s/%s %w", x.ClientID, x.StackID, store.ErrNotFound)
			}
			return Exception{}, false, fmt.Errorf("read stack %s/%s: %w", x.ClientID, x.StackID, err)
		}
	}
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	replaced := false
	err := s.updateOrganization(ctx, "exception_added", by, func(rec store.OrganizationPolicyRecord, spec *config.OrganizationSpec) (config.RuleException, error) {
		if !slices.ContainsFunc(spec.Rules, func(r config.ComplianceRule) bool { return r.Name == x.Rule }) {
			return x, fmt.Errorf("%w: the OrganizationPolicy %q declares no rule %q", ErrInvalid, rec.Name, x.Rule)
		}
		replaced = false
		for i, old := range spec.Exceptions {
			if !old.SameTarget(x) {
				continue
			}
			if old.Source != config.ExceptionFromAPI {
				return x, fmt.Errorf("%w %q: the exception of rule %q for %s is declared there (the config file is the source of truth for what it declares): change it in the file",
					ErrDeclared, rec.Name, x.Rule, exceptionTarget(x))
			}
			spec.Exceptions[i], replaced = x, true
		}
		if !replaced {
			spec.Exceptions = append(spec.Exceptions, x)
		}
		return x, nil
	})
	if errors.Is(err, errNoPolicy) {
		return Exception{}, false, ErrNoOrganization
	}
	if err != nil {
		return Exception{}, false, err
	}
	s.exceptionChanged(ctx, x)
	return Exception{RuleException: x}, replaced, nil
}

// RemoveException removes the API's exception of rule for client (and
// stack, "" for the client-wide one) and returns it: store.ErrNotFound
// when there is none, ErrDeclared when the document declares it. Audited
// as exception_removed.
func (s *Service) RemoveException(ctx context.Context, rule, clientID, stackID, by string) (Exception, error) {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	want := config.RuleException{Rule: rule, ClientID: clientID, StackID: stackID}
	var x config.RuleException
	err := s.updateOrganization(ctx, "exception_removed", by, func(rec store.OrganizationPolicyRecord, spec *config.OrganizationSpec) (config.RuleException, error) {
		i := slices.IndexFunc(spec.Exceptions, want.SameTarget)
		if i < 0 {
			return want, fmt.Errorf("no exception of rule %q for %s: %w", rule, exceptionTarget(want), store.ErrNotFound)
		}
		x = spec.Exceptions[i]
		if x.Source != config.ExceptionFromAPI {
			return x, fmt.Errorf("%w %q: the exception of rule %q for %s is declared there (the config file is the source of truth for what it declares): remove it from the file",
				ErrDeclared, rec.Name, rule, exceptionTarget(want))
		}
		spec.Exceptions = slices.Delete(spec.Exceptions, i, i+1)
		return x, nil
	})
	if errors.Is(err, errNoPolicy) {
		return Exception{}, fmt.Errorf("exception %w", store.ErrNotFound)
	}
	if err != nil {
		return Exception{}, err
	}
	s.exceptionChanged(ctx, x)
	return Exception{RuleException: x, Expired: !s.now().Before(x.ExpiresAt())}, nil
}

// ErrConcurrentChange is returned when the stored OrganizationPolicy kept
// changing (exceptions added or removed, or the policy applied, on other
// replicas) while an exception was added or removed: nothing was written.
var ErrConcurrentChange = fmt.Errorf("%w: the OrganizationPolicy changed concurrently (on another replica) every time it was read; nothing was written, try again", store.ErrConflict)

// swapAttempts bounds how many times updateOrganization reads the policy
// again after another writer changed it first.
const swapAttempts = 8

// errNoPolicy: updateOrganization found no stored OrganizationPolicy.
var errNoPolicy = fmt.Errorf("no organization policy: %w", store.ErrNotFound)

// updateOrganization applies change to the stored OrganizationPolicy and
// writes it only if no other writer changed it since it was read (the
// store's compare-and-swap: s.orgMu orders the writers of one process,
// not those of other replicas); when another did, it reads it again and
// applies change again, so that exceptions added at once on two replicas
// both land. After swapAttempts lost races it gives up with
// ErrConcurrentChange. change returns the exception it changed, audited
// as action. errNoPolicy when no OrganizationPolicy is stored.
func (s *Service) updateOrganization(ctx context.Context, action, by string,
	change func(store.OrganizationPolicyRecord, *config.OrganizationSpec) (config.RuleException, error)) error {
	for range swapAttempts {
		rec, spec, err := s.storedOrganization(ctx)
		if errors.Is(err, store.ErrNotFound) {
			return errNoPolicy
		}
		if err != nil {
			return err
		}
		x, err := change(rec, spec)
		if err != nil {
			return err
		}
		doc, err := json.Marshal(spec)
		if err != nil {
			return fmt.Errorf("encode organization policy: %w", err)
		}
		err = s.store.SwapOrganizationPolicy(ctx, rec, store.OrganizationPolicyRecord{Name: rec.Name, Document: doc, UpdatedAt: s.now()})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write organization policy: %w", err)
		}
		s.ForgetPolicies("")
		return s.auditException(ctx, action, x, by)
	}
	return ErrConcurrentChange
}

func exceptionTarget(x config.RuleException) string {
	if x.StackID != "" {
		return x.ClientID + "/" + x.StackID
	}
	return "client " + x.ClientID
}

// storedOrganization reads and decodes the stored OrganizationPolicy
// (store.ErrNotFound when none was applied).
func (s *Service) storedOrganization(ctx context.Context) (store.OrganizationPolicyRecord, *config.OrganizationSpec, error) {
	rec, err := s.store.GetOrganizationPolicy(ctx)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return rec, nil, err
		}
		return rec, nil, fmt.Errorf("read organization policy: %w", err)
	}
	var spec config.OrganizationSpec
	if err := json.Unmarshal(rec.Document, &spec); err != nil {
		return rec, nil, fmt.Errorf("decode organization policy: %w", err)
	}
	return rec, &spec, nil
}

// auditException audits the change of exception x as action.
func (s *Service) auditException(ctx context.Context, action string, x config.RuleException, by string) error {
	changes, _ := json.Marshal(x)
	if err := s.store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: s.now(), Action: action, ClientID: x.ClientID, StackID: x.StackID,
		TriggeredBy: by, Success: true, ChangesMade: changes,
	}}); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// exceptionChanged asks for a pass of each stack the exception covers, so
// that the timeline records the change from then on.
func (s *Service) exceptionChanged(ctx context.Context, x config.RuleException) {
	if x.StackID != "" {
		s.onChange(x.ClientID, x.StackID)
		return
	}
	cursor := ""
	for {
		recs, next, err := s.store.ListStates(ctx, x.ClientID, cursor, 1000)
		if err != nil {
			s.log.WarnContext(ctx, "list stacks after an exception change", "client_id", x.ClientID, "error", err)
			return
		}
		for _, r := range recs {
			s.onChange(r.ClientID, r.StackID)
		}
		if next == "" {
			return
		}
		cursor = next
	}
}

// keepAPIExceptions returns cfg with the stored API exceptions added to
// its OrganizationPolicy (a copy; cfg is not changed): those the document
// does not declare for the same rule, client and stack, whose rule it
// still declares and that have not expired. It also returns the stored
// record it read them from (nil when none is stored), which the apply
// swaps against.
func (s *Service) keepAPIExceptions(ctx context.Context, cfg *config.Config) (*config.Config, *store.OrganizationPolicyRecord, error) {
	if cfg.Organization == nil {
		return cfg, nil, nil
	}
	rec, stored, err := s.storedOrganization(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return cfg, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	org := *cfg.Organization
	var kept []config.RuleException
	for _, x := range stored.Exceptions {
		if x.Source != config.ExceptionFromAPI || !now.Before(x.ExpiresAt()) ||
			slices.ContainsFunc(org.Spec.Exceptions, x.SameTarget) ||
			!slices.ContainsFunc(org.Spec.Rules, func(r config.ComplianceRule) bool { return r.Name == x.Rule }) {
			continue
		}
		kept = append(kept, x)
	}
	if len(kept) == 0 {
		return cfg, &rec, nil
	}
	org.Spec.Exceptions = append(slices.Clip(org.Spec.Exceptions), kept...)
	out := *cfg
	out.Organization = &org
	return &out, &rec, nil
}
