package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/blackwellio/blackwell/internal/store"
)

// filenameHeader names the file a posted configuration came from, for the
// positions of its errors.
const filenameHeader = "X-Blackwell-Filename"

// yamlMediaTypes are the content types POST /v1/config accepts.
var yamlMediaTypes = map[string]bool{
	"application/yaml":   true,
	"application/x-yaml": true,
	"text/yaml":          true,
	"text/x-yaml":        true,
	"text/plain":         true,
}

// applyConfig answers POST /v1/config: a whole multi-document
// blackwell.yaml, validated like a file and applied; nothing is applied
// when any document is invalid.
func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request) error {
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	if !yamlMediaTypes[mt] {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the body must be YAML (application/yaml), not %q", mt)
	}
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	cfg, err := s.parseConfig(r, configFilename(r), data)
	if err != nil {
		return err
	}
	results, err := s.opts.State.Apply(r.Context(), cfg, actor(r))
	if err != nil {
		return fmt.Errorf("apply config: %w", err)
	}
	if s.opts.OnConfig != nil {
		if err := s.opts.OnConfig(r.Context(), cfg); err != nil {
			return errorf(http.StatusUnprocessableEntity, codeInvalidConfig,
				"desired state applied, but the notification channels were kept as they were: %v", err)
		}
	}
	return writeJSON(w, newList[store.ApplyResult](results, ""))
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
