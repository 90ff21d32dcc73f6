package provider

import (
	"context"
	"errors"
	"net/http"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/redact"
)

// Errors a driver's API calls wrap besides the ones in provider.go; test
// with errors.Is. ErrTimeout and ErrBreakerOpen also match ErrUnreachable.
var (
	// ErrTimeout: the provider sent no (whole) answer within the request
	// timeout.
	ErrTimeout = errors.New("no answer in time")
	// ErrBreakerOpen: the endpoint's circuit breaker is open; nothing was
	// sent.
	ErrBreakerOpen = errors.New("circuit breaker open")
	// ErrInvalidAnswer: the provider (or something in front of it)
	// answered with a body the driver cannot use: HTML instead of JSON, a
	// truncated or undecodable body, a listing that does not add up.
	ErrInvalidAnswer = errors.New("invalid answer")
	// ErrAccountMissing: the provider says the account does not exist
	// (its own 404 on the account's listing).
	ErrAccountMissing = errors.New("account not found")
)

// Classify says what an error of a listing means for the observation:
// the reachability of the provider and the reason the subscriptions are
// not known. A nil error is drift.Reachable with no reason. The checks go
// in this order, the first that matches wins:
//
//	credentials rejected (401, 403)      -> Unauthorized, unauthorized
//	the account does not exist (404)     -> Reachable,    account_missing
//	breaker open                         -> Unreachable,  breaker_open
//	request timeout                      -> Unreachable,  timeout
//	refused, DNS, reset, 5xx             -> Unreachable,  unreachable
//	429 beyond the allowed wait          -> Unknown,      throttled
//	HTML, truncated, undecodable, 4xx    -> Unknown,      invalid_answer
//	the caller cancelled                 -> Unknown,      not_observed
//	the caller's deadline passed         -> Unknown,      timeout
//	binding incomplete, anything else    -> Unknown,      not_observed
func Classify(err error) (drift.Reachability, drift.Reason) {
	var serr *StatusError
	switch {
	case err == nil:
		return drift.Reachable, ""
	case errors.Is(err, ErrUnauthorized):
		return drift.Unauthorized, drift.ReasonUnauthorized
	case errors.Is(err, ErrAccountMissing):
		return drift.NotFound, drift.ReasonAccountMissing
	case errors.Is(err, ErrBreakerOpen):
		return drift.Unreachable, drift.ReasonBreakerOpen
	case errors.Is(err, ErrTimeout):
		return drift.Unreachable, drift.ReasonTimeout
	case errors.Is(err, ErrUnreachable):
		return drift.Unreachable, drift.ReasonUnreachable
	case errors.Is(err, ErrRateLimited):
		return drift.Unknown, drift.ReasonThrottled
	case errors.Is(err, ErrInvalidAnswer), errors.Is(err, ErrNotFound), errors.As(err, &serr):
		return drift.Unknown, drift.ReasonInvalidAnswer
	case errors.Is(err, egress.ErrRefused):
		return drift.Unknown, drift.ReasonEgressRefused
	case errors.Is(err, context.Canceled):
		return drift.Unknown, drift.ReasonNotObserved
	case errors.Is(err, context.DeadlineExceeded):
		return drift.Unknown, drift.ReasonTimeout
	}
	return drift.Unknown, drift.ReasonNotObserved
}

// ObservationOf is the observation of a failed listing, classified by
// Classify, with the sanitised error as Detail.
func ObservationOf(name string, err error) Observation {
	reach, reason := Classify(err)
	o := Observation{ProviderObservation: drift.ProviderObservation{Name: name, Reachability: reach, Reason: reason}}
	if err != nil {
		o.Detail = redact.Text(err.Error())
	}
	return o
}

// Listed is the observation of a successful listing: every page read.
func Listed(name string, subs []drift.Subscription) Observation {
	if subs == nil {
		subs = []drift.Subscription{}
	}
	return Observation{ProviderObservation: drift.ProviderObservation{
		Name: name, Reachability: drift.Reachable, SubscriptionsKnown: true, Subscriptions: subs,
	}}
}

// AccountListing marks the error of the first page of an account's
// listing: the provider's own 404 there (a JSON body, which a proxy's or a
// wrong base's HTML page is not) means the account does not exist, and
// wraps ErrAccountMissing. Any other error is returned as it is.
func AccountListing(err error) error {
	var serr *StatusError
	if errors.As(err, &serr) && serr.Status == http.StatusNotFound && serr.jsonBody {
		return &accountMissing{err}
	}
	return err
}

type accountMissing struct{ err error }

func (e *accountMissing) Error() string   { return e.err.Error() }
func (e *accountMissing) Unwrap() []error { return []error{ErrAccountMissing, e.err} }
