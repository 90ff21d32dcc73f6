package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// loadConfig parses the config file, or returns nil when there is none and
// none was required.
func (s *Server) loadConfig() (*config.Config, error) {
	if s.opts.ConfigPath == "" {
		return nil, nil
	}
	if _, err := os.Stat(s.opts.ConfigPath); errors.Is(err, fs.ErrNotExist) && !s.opts.ConfigRequired {
		s.log.Warn("no config file; serving what the store holds", "config", s.opts.ConfigPath)
		return nil, nil
	}
	cfg, err := config.LoadWith(s.opts.ConfigPath, s.opts.Getenv, s.opts.Rules)
	if err != nil {
		return nil, fmt.Errorf("config refused, nothing applied:\n%w", err)
	}
	// Every part must be acceptable before any is written (config_check.go).
	if err := CheckChannels(cfg, egressChannels(s.opts.NotifyChannels, s.opts.Egress)); err != nil {
		return nil, fmt.Errorf("config refused, nothing applied: %s: %w", s.opts.ConfigPath, err)
	}
	return cfg, nil
}

// apply applies a parsed config exactly as blackwell apply does, and
// builds its notification channels.
func (s *Server) apply(ctx context.Context, cfg *config.Config) error {
	a, err := s.state.ApplyFile(ctx, cfg, s.opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("apply %s: %w", s.opts.ConfigPath, err)
	}
	s.logApply(a.Stacks)
	return s.notify.Configure(ctx, cfg)
}

// Reload re-reads the config file and applies it exactly as apply does. A
// config that fails validation is refused whole; the running state stays.
func (s *Server) Reload(ctx context.Context) error {
	s.reloadCertificate() // tls.go: logs a failure, keeps the old certificate
	cfg, err := s.loadConfig()
	if err != nil || cfg == nil {
		return err
	}
	return s.apply(ctx, cfg)
}

func (s *Server) logApply(res []store.ApplyResult) {
	changed := 0
	for _, r := range res {
		if h := r.Pinned; h != nil {
			s.log.Warn("desired state kept: the stack is pinned by a rollback hold; the file's version of it was not applied",
				"client_id", r.ClientID, "stack_id", r.StackID, "state_version", r.Version, "pinned_until", h.Until, "pinned_by", h.By)
		}
		if r.Changed {
			changed++
			s.log.Info("desired state applied", "client_id", r.ClientID, "stack_id", r.StackID, "state_version", r.Version, "created", r.Created)
		}
	}
	s.log.Info("config applied", "config", s.opts.ConfigPath, "stacks", len(res), "changed", changed)
}
