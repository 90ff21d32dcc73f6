package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/blackwellio/blackwell/internal/config"
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

// parseConfig parses and validates a whole posted configuration.
func (s *Server) parseConfig(filename string, data []byte) (*config.Config, error) {
	cfg, err := config.Parse(filename, data, s.opts.Getenv)
	if err != nil {
		return nil, configError(err)
	}
	return cfg, nil
}
