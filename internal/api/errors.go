package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Error codes of the JSON error answers.
const (
	codeBadRequest       = "bad_request"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeConflict         = "conflict"
	codeTooLarge         = "too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeInvalid          = "invalid"
	codeInvalidConfig    = "invalid_config"
	codeTimeout          = "timeout"
	codeUnavailable      = "unavailable"
	codeNotReady         = "not_ready"
	codeInternal         = "internal"
)

// errorBody is the shape of every error answer:
// {"error":{"code":"...","message":"...","details":[...]}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Details []problem `json:"details,omitempty"`
}

// problem is one positional problem of a configuration.
type problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// apiError is an error with the status and code it is answered with. Its
// message is shown to the caller, so it must not hold internals.
type apiError struct {
	status  int
	code    string
	message string
	details []problem
	// retryAfter, when set, is sent as Retry-After.
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, codeBadRequest, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, codeNotFound, format, args...)
}

func invalid(format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, codeInvalid, format, args...)
}

// writeError answers err as JSON. Sentinel errors map to their statuses;
// anything else is a bug: logged with the request id and answered as a 500
// that says nothing of the cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var tooLarge *http.MaxBytesError
	var se statusError
	switch {
	case errors.As(err, &ae):
		if ae.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, ae.retryAfter).Seconds())))
		}
	case errors.As(err, &se):
		ae = errorf(se.HTTPStatus(), se.ErrorCode(), "%s", se.Error())
		if ra, ok := se.(interface{ RetryAfter() time.Duration }); ok && ra.RetryAfter() > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, ra.RetryAfter()).Seconds())))
		}
	case errors.As(err, &tooLarge):
		ae = errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, store.ErrNotFound):
		ae = notFound("not found")
	case errors.Is(err, store.ErrInvalidCursor):
		ae = badRequest("invalid cursor: pass next_cursor of a previous answer unchanged")
	case errors.Is(err, store.ErrConflict):
		ae = errorf(http.StatusConflict, codeConflict, "the record changed concurrently; retry")
	case errors.Is(err, state.ErrPinned):
		ae = errorf(http.StatusConflict, codeConflict, "%s", trimSentinel(err, state.ErrPinned))
	case errors.Is(err, state.ErrInvalid):
		ae = invalid("%s", trimSentinel(err, state.ErrInvalid))
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The caller went away; nobody reads this answer.
		ae = errorf(http.StatusServiceUnavailable, codeUnavailable, "request canceled")
	default:
		s.log.ErrorContext(r.Context(), "api request failed", "request_id", requestID(w), "method", r.Method, "path", r.URL.Path, "error", err)
		ae = errorf(http.StatusInternalServerError, codeInternal, "internal error (request id %s)", requestID(w))
	}
	writeJSONStatus(w, ae.status, errorBody{Error: errorDetail{Code: ae.code, Message: ae.message, Details: ae.details}})
}

// statusError is an error that names its answer, such as a rejected
// webhook delivery (ingest.Error).
type statusError interface {
	error
	HTTPStatus() int
	ErrorCode() string
}

// trimSentinel drops the "invalid: " prefix that wrapping with %w adds.
func trimSentinel(err, sentinel error) string {
	msg := err.Error()
	prefix := sentinel.Error() + ": "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}

// writeJSON answers v with status 200.
func writeJSON(w http.ResponseWriter, v any) error {
	writeJSONStatus(w, http.StatusOK, v)
	return nil
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the status is sent; a write error means the caller left
}

// isTimeout reports whether err is the end of a wait.
func isTimeout(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
