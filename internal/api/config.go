package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// filenameHeader names the file a posted configuration came from, for the
// positions of its errors.
const filenameHeader = "X-Blackwell-Filename"

// yamlMediaTypes are the YAML content types POST /v1/config accepts (and
// JSON, which is YAML). Not text/plain: a browser posts it from any page
// without asking (guard.go).
var yamlMediaTypes = map[string]bool{
	"application/yaml":   true,
	"application/x-yaml": true,
	"text/yaml":          true,
	"text/x-yaml":        true,
}

// defaultParseWait is how long a request waits for a turn to parse a
// configuration before it is answered 503.
const defaultParseWait = 2 * time.Second

// parseTurn waits for a turn to parse a configuration (at most
// MaxConfigParses at once: a parse takes memory in proportion to the
// body); release gives it back. Busy for Server.parseWait is 503 with Retry-After.
func (s *Server) parseTurn(ctx context.Context) (release func(), err error) {
	select {
	case s.parses <- struct{}{}:
	default:
		t := time.NewTimer(s.parseWait)
		defer t.Stop()
		select {
		case s.parses <- struct{}{}:
		case <-t.C:
			e := errorf(http.StatusServiceUnavailable, codeUnavailable, "too many configurations are being parsed now; retry")
			e.retryAfter = time.Second
			return nil, e
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return func() { <-s.parses }, nil
}

// applyConfig answers POST /v1/config: a whole multi-document
// blackwell.yaml, validated like a file and applied; nothing is applied
// when any document is invalid.
func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request) error {
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	if !yamlMediaTypes[mt] && !isJSONMediaType(mt) {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the body must be YAML (application/yaml) or JSON, not %q", mt)
	}
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	release, err := s.parseTurn(r.Context())
	if err != nil {
		return err
	}
	cfg, err := s.parseConfig(r, configFilename(r), data)
	release()
	if err != nil {
		return err
	}
	prune, err := pruneParam(r)
	if err != nil {
		return err
	}
	// Every part must be acceptable before any is written: the
	// notification channels are built (not started) first.
	if s.opts.CheckConfig != nil {
		if err := s.opts.CheckConfig(r.Context(), cfg); err != nil {
			return errorf(http.StatusUnprocessableEntity, codeInvalidConfig, "config refused, nothing applied: %v", err)
		}
	}
	applied, err := s.opts.State.ApplyConfig(r.Context(), cfg, actor(r))
	var refused *config.Errors
	if errors.As(err, &refused) {
		return configError(err) // the organisation's rules refuse it: nothing applied
	}
	if err != nil {
		return fmt.Errorf("apply config: %w", err)
	}
	ans := configAnswer{list: newList(applied.Stacks, ""), Policies: applied.Policies, Channels: []config.NamedChannel{},
		Deleted: []store.StackDeleted{}}
	if ans.Policies == nil {
		ans.Policies = []state.PolicyResult{}
	}
	if ans.Warnings, err = s.configWarnings(r.Context(), cfg, applied); err != nil {
		return err
	}
	if prune {
		deleted, err := s.prune(r, cfg)
		ans.Deleted = append(ans.Deleted, deleted...)
		if err != nil {
			return err
		}
	}
	if s.opts.OnConfig != nil {
		if err := s.opts.OnConfig(r.Context(), cfg); err != nil {
			// CheckConfig built these channels a moment ago: starting
			// them failed, which is the server's trouble, not the
			// document's.
			return fmt.Errorf("desired state applied, but starting the notification channels failed (the previous ones are kept): %w", err)
		}
		ans.Channels = s.auditChannels(w, r, cfg)
	}
	return writeJSON(w, ans)
}

// configAnswer is POST /v1/config's answer: the stacks (items, as a list),
// every policy of the document with what was done to it, and the
// notification channels now configured (none when the server takes no
// channels from the API).
type configAnswer struct {
	list[store.ApplyResult]
	Policies []state.PolicyResult  `json:"policies"`
	Channels []config.NamedChannel `json:"channels"`
	// Deleted are the stacks ?prune=true removed.
	Deleted []store.StackDeleted `json:"deleted"`
	// Warnings: stacks a rollback's hold kept as they were, and changes
	// the server's config file will undo on its next reload.
	Warnings []string `json:"warnings,omitempty"`
}

// configWarnings names, of what an apply did, the stacks a hold kept as
// they were, and the stacks and policies it changed that the server's
// config file declares otherwise (the next SIGHUP or restart puts the
// file's back).
func (s *Server) configWarnings(ctx context.Context, cfg *config.Config, applied state.Applied) ([]string, error) {
	var out []string
	for _, res := range applied.Stacks {
		key := res.ClientID + "/" + res.StackID
		if h := res.Pinned; h != nil {
			out = append(out, fmt.Sprintf("%s: kept at %s, pinned by a rollback hold until %s: this document's version of it was not applied (blackwell unpin %s ends the hold)",
				key, res.Version, h.Until.UTC().Format(time.RFC3339), key))
			continue
		}
		if !res.Changed {
			continue
		}
		rec, err := s.opts.Store.GetState(ctx, res.ClientID, res.StackID)
		if err != nil {
			return nil, fmt.Errorf("read stack %s: %w", key, err)
		}
		out = append(out, s.stackWarnings(rec)...)
	}
	for i, p := range applied.Policies {
		if p.Changed && i < len(cfg.Policies) {
			if w := s.opts.State.PolicyWarning(p.ClientID, p.StackID, cfg.Policies[i].Spec); w != "" {
				out = append(out, w)
			}
		}
	}
	return out, nil
}

// configFilename is the file name the caller gave, made safe to echo, or
// "request".
func configFilename(r *http.Request) string {
	name := strings.TrimSpace(r.Header.Get(filenameHeader))
	if name == "" || len(name) > 256 {
		return "request"
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return "request"
		}
	}
	return name
}

// auditChannels appends a channels_applied entry: the notification channels
// POST /v1/config set (names and types, never their secrets), which the
// desired-state entries do not show.
func (s *Server) auditChannels(w http.ResponseWriter, r *http.Request, cfg *config.Config) []config.NamedChannel {
	chans := cfg.AllChannels()
	changes, _ := json.Marshal(map[string]any{"channels": chans})
	ctx := context.WithoutCancel(r.Context())
	if err := s.opts.Store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: s.now(), Action: "channels_applied", TriggeredBy: actor(r), Success: true, ChangesMade: changes,
	}}); err != nil {
		s.log.ErrorContext(ctx, "audit channels", "request_id", requestID(w), "error", err)
	}
	return chans
}
