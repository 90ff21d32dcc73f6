package shopify

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
)

// Descriptor is Shopify as blackwell knows it: its driver and webhook
// scheme, with Shopify's privacy webhooks and the staleness of retried
// deliveries.
func Descriptor() provider.Descriptor {
	return provider.Descriptor{
		Name:      Name,
		NewDriver: func(api provider.APIClientOptions) provider.Driver { return New(Options{API: api}) },
		Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
			return Verify(secrets, r.Header, body, now)
		},
		Bound:     CheckShop,
		Normalize: Normalize,
		Minimize: func(h http.Header, body []byte, mode webhook.Payload) json.RawMessage {
			return MinimizePayload(h.Get(HeaderTopic), body, mode)
		},
		Privacy: privacy,
		Stale:   Stale,
	}
}

// privacy reads Shopify's mandatory privacy webhooks: customers/redact
// erases what names the customer (email, phone, id) and the orders to
// redact, shop/redact the shop's data, and customers/data_request reports
// what is held about the customer.
func privacy(h http.Header, body []byte) (provider.Privacy, bool, error) {
	topic := h.Get(HeaderTopic)
	p, ok, err := ParsePrivacy(topic, body)
	if !ok || err != nil {
		return provider.Privacy{}, ok, err
	}
	out := provider.Privacy{Topic: topic, Erase: topic != TopicCustomersDataRequest}
	if topic == TopicShopRedact {
		out.Shop = p.ShopDomain
		return out, true, nil
	}
	for _, v := range []string{p.Email, p.Phone} {
		if v != "" {
			out.Values = append(out.Values, v)
		}
	}
	if p.CustomerID != "" {
		out.IDs = append(out.IDs, p.CustomerID)
	}
	out.IDs = append(out.IDs, p.OrderIDs...)
	return out, true, nil
}
