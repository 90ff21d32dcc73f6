package ingest

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/erase"
	"github.com/blackwellio/blackwell/internal/ingest/webhook"

	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/provider/generic"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// Receiver is one provider's webhook scheme: how a delivery is verified
// and normalised. The providers' packages implement the schemes; Receivers
// adapts them.
type Receiver struct {
	// Name is the provider name, as in a binding and the receiver path.
	Name string
	// Verify checks the delivery's signature against the active secrets
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

// Receivers returns the receivers of the four providers blackwell
// understands: shopify, sanity, contentful and generic (Standard Webhooks).
func Receivers() []Receiver {
	return []Receiver{
		{
			Name: shopify.Name,
			Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
				return shopify.Verify(secrets, r.Header, body, now)
			},
			Bound:     shopify.CheckShop,
			Normalize: shopify.Normalize,
			Minimize: func(h http.Header, body []byte, mode webhook.Payload) json.RawMessage {
				return shopify.MinimizePayload(h.Get(shopify.HeaderTopic), body, mode)
			},
			Privacy: shopifyPrivacy,
			Stale:   shopify.Stale,
		},
		{
			Name: sanity.Name,
			Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
				return sanity.Verify(secrets, r.Header, body, now)
			},
			Normalize: sanity.Normalize,
			Minimize: func(_ http.Header, body []byte, mode webhook.Payload) json.RawMessage {
				return sanity.MinimizePayload(body, mode)
			},
		},
		{
			Name: contentful.Name,
			Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
				return contentful.Verify(secrets, r.Method, contentful.RequestPath(r.URL), r.Header, body, now)
			},
			Normalize: contentful.Normalize,
			Minimize: func(_ http.Header, body []byte, mode webhook.Payload) json.RawMessage {
				return contentful.MinimizePayload(body, mode)
			},
		},
		{
			Name: generic.Name,
			Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
				return stdwebhook.Verify(secrets, r.Header, body, now)
			},
			Normalize: generic.Normalize,
			Minimize: func(_ http.Header, body []byte, mode webhook.Payload) json.RawMessage {
				return generic.MinimizePayload(body, mode)
			},
		},
	}
}

// Privacy is a privacy request a delivery carries: what to erase (Erase)
// or to report (a data request). The gateway sets the client and runs it
// after the delivery's event is committed.
type Privacy struct {
	Erase   bool
	Request erase.Request
}

// shopifyPrivacy reads Shopify's mandatory privacy webhooks:
// customers/redact erases what names the customer (email, phone, id) and
// the orders to redact, shop/redact the shop's data, and
// customers/data_request reports what is held about the customer.
func shopifyPrivacy(h http.Header, body []byte) (Privacy, bool, error) {
	topic := h.Get(shopify.HeaderTopic)
	p, ok, err := shopify.ParsePrivacy(topic, body)
	if !ok || err != nil {
		return Privacy{}, ok, err
	}
	req := erase.Request{By: "shopify:" + topic, Reason: "shopify " + topic}
	if topic == shopify.TopicShopRedact {
		req.Shop = p.ShopDomain
	} else {
		for _, v := range []string{p.Email, p.Phone} {
			if v != "" {
				req.Subject.Values = append(req.Subject.Values, v)
			}
		}
		if p.CustomerID != "" {
			req.Subject.IDs = append(req.Subject.IDs, p.CustomerID)
		}
		req.Subject.IDs = append(req.Subject.IDs, p.OrderIDs...)
	}
	return Privacy{Erase: topic != shopify.TopicCustomersDataRequest, Request: req}, true, nil
}
