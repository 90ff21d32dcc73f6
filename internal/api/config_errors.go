package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// storeListError wraps an error of a store list call.
func (s *Server) storeListError(err error, what string) error {
	return fmt.Errorf("%s: %w", what, err)
}

// configError answers a configuration that does not validate: 422
// invalid_config with every positional problem.
func configError(err error) error {
	var errs *config.Errors
	var details []problem
	if errors.As(err, &errs) {
		for _, e := range *errs {
			details = append(details, problem{File: e.File, Line: e.Line, Column: e.Column, Message: e.Message})
		}
	} else {
		details = []problem{{Message: err.Error()}}
	}
	msg := fmt.Sprintf("%d problems", len(details))
	if len(details) == 1 {
		msg = "1 problem"
	}
	return &apiError{status: http.StatusUnprocessableEntity, code: codeInvalidConfig, message: msg, details: details}
}

// parseConfig parses and validates a configuration posted by the caller of
// r under the rules of API documents (documentRules).
func (s *Server) parseConfig(r *http.Request, filename string, data []byte) (*config.Config, error) {
	rules, lookupErr, err := s.documentRules(r)
	if err != nil {
		return nil, err
	}
	cfg, err := config.ParseWith(filename, data, s.opts.Getenv, rules)
	if lerr := lookupErr(); lerr != nil {
		return nil, lerr
	}
	if err != nil {
		return nil, configError(err)
	}
	return cfg, nil
}

// documentRules are the rules of a document sent to the API by the caller
// of r (docs/SECURITY.md, "Tenants"): a command build only as stored,
// https for credential URLs, and for a client-scoped token its client's
// variables and the stored credential destinations. lookupErr reports a
// store error met while reading a stored spec (the rules then refused, as
// if nothing were stored).
func (s *Server) documentRules(r *http.Request) (rules config.Rules, lookupErr func() error, err error) {
	ctx := r.Context()
	var storeErr error
	rules = config.Rules{
		CredentialHosts: s.opts.CredentialHosts,
		Stored: func(clientID, stackID string) (config.StackSpec, bool) {
			rec, err := s.opts.Store.GetState(ctx, clientID, stackID)
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) && storeErr == nil {
					storeErr = fmt.Errorf("read stack %s/%s: %w", clientID, stackID, err)
				}
				return config.StackSpec{}, false
			}
			var spec config.StackSpec
			if err := json.Unmarshal(rec.Desired, &spec); err != nil {
				if storeErr == nil {
					storeErr = fmt.Errorf("decode stack %s/%s: %w", clientID, stackID, err)
				}
				return config.StackSpec{}, false
			}
			// Hook destinations need the values; what does not resolve
			// stays unresolved (and names no destination).
			_ = spec.ResolveSecrets(s.opts.Getenv)
			return spec, true
		},
	}
	// The stored OrganizationPolicy's locks hold for a document that
	// declares none (checked where its policies set a locked field).
	if rules.Organization, _, err = s.opts.State.Organization(ctx); err != nil {
		return config.Rules{}, nil, err
	}
	if tok := principalOf(r).token; tok != nil && tok.ClientID != "" {
		t := &config.Tenant{ClientID: tok.ClientID, Destinations: s.opts.Destinations}
		if s.opts.ClientSecretPrefix != "" {
			if t.SecretPrefix, err = config.ClientSecretPrefix(s.opts.ClientSecretPrefix, tok.ClientID); err != nil {
				return config.Rules{}, nil, fmt.Errorf("client secret prefix: %w", err)
			}
		}
		if t.Destinations == nil {
			// Where credentials go cannot be told: any change of a
			// binding's name, settings or build counts as a new one.
			t.Destinations = func(_, _, role string, spec config.StackSpec) []string {
				b := spec.Providers[role]
				j, _ := json.Marshal(struct {
					Name     string            `json:"name"`
					Settings map[string]string `json:"settings"`
					Build    *config.Build     `json:"build"`
				}{b.Name, b.Settings, b.Build})
				return []string{"binding:" + string(j)}
			}
		}
		rules.Tenant = t
	}
	return rules, func() error { return storeErr }, nil
}
