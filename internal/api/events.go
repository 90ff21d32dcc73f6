package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/blackwellio/blackwell/internal/audit"

	"github.com/blackwellio/blackwell/internal/store"
)

// listEvents answers GET /v1/events: events newest first, filtered by
// ?client_id=, ?provider=, ?type=, ?since= and ?until= (RFC 3339, until
// exclusive).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	since, err := timeParam(r, "since")
	if err != nil {
		return err
	}
	until, err := timeParam(r, "until")
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return badRequest("until must be after since")
	}
	q := r.URL.Query()
	events, next, err := s.opts.Store.ListEvents(r.Context(), store.EventQuery{
		ClientID: q.Get("client_id"), ProviderName: q.Get("provider"), EventType: q.Get("type"),
		Since: since, Until: until, Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list events")
	}
	return writeJSON(w, newList(events, next))
}

// listAudit answers GET /v1/audit: audit entries oldest first, filtered by
// ?client_id=, ?action=, ?since= and ?until= (RFC 3339, until exclusive).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	since, err := timeParam(r, "since")
	if err != nil {
		return err
	}
	until, err := timeParam(r, "until")
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return badRequest("until must be after since")
	}
	q := r.URL.Query()
	entries, next, err := s.opts.Store.ListAudit(r.Context(), store.AuditQuery{
		ClientID: q.Get("client_id"), Action: q.Get("action"), Since: since, Until: until, Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list audit entries")
	}
	return writeJSON(w, newList(entries, next))
}

// checkpointAnswer is the answer of GET /v1/audit/checkpoint.
type checkpointAnswer struct {
	// Checkpoint is null when the chain was never pruned.
	Checkpoint *store.AuditCheckpoint `json:"checkpoint"`
	// PublicKey is the base64 of the Ed25519 public key this server signs
	// checkpoints with; empty when it has none.
	PublicKey string `json:"public_key"`
	KeyID     string `json:"key_id,omitempty"`
}

// auditCheckpoint answers GET /v1/audit/checkpoint: where the stored chain
// starts after pruning, and the key that signed it.
func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	var ans checkpointAnswer
	cp, err := s.opts.Store.AuditCheckpoint(r.Context())
	switch {
	case err == nil:
		ans.Checkpoint = &cp
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("read audit checkpoint: %w", err)
	}
	if len(s.opts.AuditPublicKey) > 0 {
		ans.PublicKey = base64.StdEncoding.EncodeToString(s.opts.AuditPublicKey)
		ans.KeyID = audit.KeyID(s.opts.AuditPublicKey)
	}
	return writeJSON(w, ans)
}

// listAuditHeads answers GET /v1/audit/heads: the signed heads of the
// audit chain by seq (serve --audit-key-file signs them), for audit verify
// to check against the chain.
func (s *Server) listAuditHeads(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	heads, next, err := s.opts.Store.ListAuditHeads(r.Context(), p.cursor, p.limit)
	if err != nil {
		return s.storeListError(err, "list signed audit heads")
	}
	return writeJSON(w, newList(heads, next))
}
