package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// The config file is the source of truth for what it declares: the server
// applies it at start and on every SIGHUP (ApplyFile), over changes made
// since through the API. The service remembers what the file declared, so
// that an API write that the next reload will undo can say so
// (StackWarning, PolicyWarning), and a rollback may hold the stack against
// it (RollbackRequest.Hold, Unpin).

// fileDeclared is what the config file declared when the server last
// applied it whole.
type fileDeclared struct {
	path     string
	stacks   map[string]declaredStack // by "client/stack"
	policies map[string]string        // by "client/stack" ("client/" client-wide): the document as stored
}

type declaredStack struct{ hash, environment string }

// ApplyFile applies the server's config file as ApplyConfig does, and
// remembers what it declares (when the apply succeeded).
func (s *Service) ApplyFile(ctx context.Context, cfg *config.Config, path string) (Applied, error) {
	decl := &fileDeclared{path: path, stacks: map[string]declaredStack{}, policies: map[string]string{}}
	for _, st := range cfg.Stacks {
		_, sum, err := config.Hash(st.Spec)
		if err != nil {
			return Applied{}, fmt.Errorf("hash stack %s: %w", st.Metadata.Key(), err)
		}
		decl.stacks[st.Metadata.Key()] = declaredStack{hash: sum, environment: st.Metadata.Environment}
	}
	for _, p := range cfg.Policies {
		doc, err := json.Marshal(p.Spec)
		if err != nil {
			return Applied{}, fmt.Errorf("encode policy %s/%s: %w", p.Metadata.ClientID, p.Metadata.StackID, err)
		}
		decl.policies[p.Metadata.ClientID+"/"+p.Metadata.StackID] = string(doc)
	}
	a, err := s.ApplyConfig(ctx, cfg, "config:"+path)
	if err != nil {
		return a, err
	}
	s.mu.Lock()
	s.file = decl
	s.mu.Unlock()
	return a, nil
}

// declared returns what the config file declared (nil: no file applied).
func (s *Service) declared() *fileDeclared {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file
}

// StackWarning says, for a stack as now stored, whether the config file
// the server applied declares it with another desired state, which the
// server will put back on its next SIGHUP or restart ("" when not).
func (s *Service) StackWarning(rec store.StateRecord) string {
	f := s.declared()
	if f == nil {
		return ""
	}
	d, ok := f.stacks[rec.Key()]
	if !ok || (d.hash == rec.DesiredHash && d.environment == rec.Environment) {
		return ""
	}
	if rec.Hold.Active(s.now()) {
		return fmt.Sprintf("%s: pinned until %s; the config file %s declares this stack with another desired state, which the server applies on its first SIGHUP or restart after the hold ends (or after blackwell unpin %s)",
			rec.Key(), rec.Hold.Until.UTC().Format(time.RFC3339), f.path, rec.Key())
	}
	return fmt.Sprintf("%s: the config file %s declares this stack with another desired state; the server applies the file's again on its next SIGHUP or restart (make lasting changes in the file, or hold a rollback with rollback --hold)",
		rec.Key(), f.path)
}

// PolicyWarning says whether the config file the server applied declares
// the policy of (client, stack) ("" for client-wide) with another spec.
func (s *Service) PolicyWarning(clientID, stackID string, spec config.PolicySpec) string {
	f := s.declared()
	if f == nil {
		return ""
	}
	want, ok := f.policies[clientID+"/"+stackID]
	if !ok {
		return ""
	}
	doc, err := json.Marshal(spec)
	if err != nil || string(doc) == want {
		return ""
	}
	name := clientID
	if stackID != "" {
		name += "/" + stackID
	}
	return fmt.Sprintf("policy %s: the config file %s declares it with another spec; the server applies the file's again on its next SIGHUP or restart (make lasting changes in the file)",
		name, f.path)
}

// Unpin ends a stack's hold, audited; it returns the hold (nil when there
// was none: nothing is written). store.ErrNotFound when there is no such
// stack. The desired state stays as it is: the config file's version of a
// stack it declares is applied on the next SIGHUP or restart.
func (s *Service) Unpin(ctx context.Context, clientID, stackID, by string) (*store.Hold, error) {
	h, err := s.store.Unpin(ctx, clientID, stackID)
	if err != nil || h == nil {
		return nil, err
	}
	changes, _ := json.Marshal(map[string]any{"state_version": h.Version, "restored": h.Restored, "until": h.Until,
		"active": h.Active(s.now()), "pinned_by": h.By})
	if err := s.store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: s.now(), Action: "unpinned", ClientID: clientID, StackID: stackID,
		TriggeredBy: by, Success: true, ChangesMade: changes,
	}}); err != nil {
		return h, fmt.Errorf("audit unpin: %w", err)
	}
	return h, nil
}
