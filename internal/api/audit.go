package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// auditReconcileRequest records a manual request for passes (action
// reconcile_requested, one entry per stack) before they are asked for: a
// request that cannot be audited is not carried out.
func (s *Server) auditReconcileRequest(r *http.Request, wait time.Duration, stacks ...store.StateRecord) error {
	changes := map[string]string{"trigger": triggerAPI}
	if wait > 0 {
		changes["wait"] = wait.String()
	}
	doc, err := json.Marshal(changes)
	if err != nil {
		return fmt.Errorf("encode reconcile request: %w", err)
	}
	now := s.now()
	entries := make([]store.AuditEntry, len(stacks))
	for i, st := range stacks {
		entries[i] = store.AuditEntry{
			Timestamp: now, Action: "reconcile_requested", ClientID: st.ClientID, StackID: st.StackID,
			TriggeredBy: actor(r), Success: true, ChangesMade: doc,
		}
	}
	if err := s.opts.Store.AppendAudit(r.Context(), entries); err != nil {
		return fmt.Errorf("audit reconcile request: %w", err)
	}
	return nil
}
