package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Pagination bounds of list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// list is the envelope of every list answer.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func newList[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, NextCursor: next}
}

// readBody reads the whole request body, bounded by MaxBodyBytes (a larger
// body is an *http.MaxBytesError, answered 413).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
}

// mediaType is the request's Content-Type without parameters, lower case;
// empty when absent.
func mediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "malformed Content-Type %q", ct)
	}
	return mt, nil
}

// isJSONMediaType accepts application/json and application/*+json.
func isJSONMediaType(mt string) bool {
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// jsonBody reads a JSON body: nil when the body is empty, 415 when a body
// is not declared application/json.
func (s *Server) jsonBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	mt, err := mediaType(r)
	if err != nil {
		return nil, err
	}
	if !isJSONMediaType(mt) {
		return nil, errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the body must be application/json, not %q", mt)
	}
	return data, nil
}

// decodeJSON reads an optional JSON body into v (unknown fields are
// errors). It reports whether there was a body.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) (bool, error) {
	data, err := s.jsonBody(w, r)
	if err != nil || data == nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, badRequest("malformed JSON body: %s", jsonErrorText(err))
	}
	if dec.More() {
		return true, badRequest("malformed JSON body: more than one value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return true, badRequest("malformed JSON body: trailing data")
	}
	return true, nil
}

// jsonErrorText describes a decoding error without Go type names.
func jsonErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return "field " + typeErr.Field + " has the wrong type (" + typeErr.Value + ")"
		}
		return "wrong type (" + typeErr.Value + ")"
	case errors.As(err, &syntaxErr):
		return syntaxErr.Error() + " at offset " + strconv.FormatInt(syntaxErr.Offset, 10)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// page holds the pagination parameters of a list request.
type page struct {
	cursor string
	limit  int
}

// pageParams parses ?cursor= and ?limit= (1..1000, default 100).
func pageParams(r *http.Request) (page, error) {
	q := r.URL.Query()
	p := page{cursor: q.Get("cursor"), limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return page{}, badRequest("limit must be a whole number from 1 to %d, not %q", maxLimit, v)
		}
		p.limit = n
	}
	return p, nil
}

// timeParam parses an optional RFC 3339 query parameter.
func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("%s must be an RFC 3339 time like 2025-10-10T04:00:00Z, not %q", name, v)
	}
	return t, nil
}

// boolParam parses an optional boolean query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s must be true or false, not %q", name, v)
	}
	return b, nil
}
