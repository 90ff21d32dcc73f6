package provider

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// Descriptor is what blackwell knows of one provider, in one value: the
// name that bindings and the receiver path (/v1/webhooks/{Name}/...) use,
// the driver of its management API, and its webhook scheme (how a delivery
// is verified, normalised and minimised). Each provider's package returns
// its own (shopify.Descriptor, ...); the list blackwell runs with is built
// once, in package catalog, and handed to the webhook gateway and the
// driver registry. Verify, Normalize and NewDriver are required; the
// others are left nil by providers without the feature.
type Descriptor struct {
	// Name is the provider name, as in a binding and the receiver path.
	Name string
	// NewDriver returns the provider's driver, its API calls made with
	// api.
	NewDriver func(api APIClientOptions) Driver
	// Verify checks a delivery's signature against the active secrets
	// (errors of package webhook).
	Verify func(secrets []string, r *http.Request, body []byte, now time.Time) error
	// Bound, when set, checks a verified delivery's unsigned headers
	// against the settings of the bindings it matched (one map per
	// binding); an error of package webhook refuses it.
	Bound func(h http.Header, settings []map[string]string) error
	// Normalize makes the event to store and its content-cache state.
	Normalize func(h http.Header, body []byte, clientID, stackID string, now time.Time) (store.Event, *store.ContentItem, error)
	// Minimize is what the stored event keeps of the body under the
	// policy's events.payload (nil: the body as delivered).
	Minimize func(h http.Header, body []byte, mode webhook.Payload) json.RawMessage
	// Privacy, when set, reads a privacy request (an erasure or a data
	// request) from a verified delivery; ok is false for other deliveries.
	Privacy func(h http.Header, body []byte) (p Privacy, ok bool, err error)
	// Stale, when set, flags an accepted delivery of an event that fired
	// long ago (counted, not rejected).
	Stale func(h http.Header, now time.Time) bool
}

// Privacy is a privacy request a delivery carries (Shopify's mandatory
// privacy webhooks): an erasure, or a data request answered with a report,
// of a shop's data or of what names a person.
type Privacy struct {
	// Topic names the request (customers/redact): the audit entry says
	// "<provider>:<topic>" asked.
	Topic string
	// Erase is false for a data request.
	Erase bool
	// Shop, when set, is the shop whose data goes (and nothing else).
	Shop string
	// Values (an email, a phone number) and IDs (a customer's, its
	// orders') name the person otherwise.
	Values []string
	IDs    []string
}

// Drivers returns the drivers of the providers by name, their API calls
// made with api: the drivers of a Registry.
func Drivers(providers []Descriptor, api APIClientOptions) map[string]Driver {
	out := make(map[string]Driver, len(providers))
	for _, p := range providers {
		out[p.Name] = p.NewDriver(api)
	}
	return out
}
