package shopify

import (
	"encoding/json"
	"strings"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
)

// Privacy topics: Shopify's mandatory compliance webhooks
// (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance).
const (
	TopicCustomersDataRequest = "customers/data_request"
	TopicCustomersRedact      = "customers/redact"
	TopicShopRedact           = "shop/redact"
)

// personalResources are the topic resources whose bodies carry customers'
// names, emails, phones and addresses: minimal by default.
var personalResources = map[string]bool{"orders": true, "customers": true, "checkouts": true}

// IsPrivacyTopic reports a mandatory compliance topic.
func IsPrivacyTopic(topic string) bool {
	switch topic {
	case TopicCustomersDataRequest, TopicCustomersRedact, TopicShopRedact:
		return true
	}
	return false
}

// common is what a minimal payload keeps of any resource: ids, handles,
// status and timestamps.
var common = webhook.Shape{
	"id": nil, "admin_graphql_api_id": nil, "handle": nil, "status": nil,
	"created_at": nil, "updated_at": nil, "published_at": nil, "published_scope": nil,
}

// shapes are the minimal payloads of the topic resources (and the privacy
// topics) that keep more than common. docs/DATA.md lists them.
var shapes = map[string]webhook.Shape{
	"orders": with(common, webhook.Shape{
		"name": nil, "order_number": nil, "number": nil, "test": nil, "confirmed": nil,
		"financial_status": nil, "fulfillment_status": nil, "cancel_reason": nil, "currency": nil,
		"processed_at": nil, "cancelled_at": nil, "closed_at": nil,
		"customer":     {"id": nil},
		"line_items":   {"id": nil, "product_id": nil, "variant_id": nil, "quantity": nil},
		"fulfillments": {"id": nil, "status": nil, "created_at": nil, "updated_at": nil},
	}),
	"customers": with(common, webhook.Shape{"state": nil}),
	"checkouts": with(common, webhook.Shape{
		"token": nil, "currency": nil, "completed_at": nil, "closed_at": nil,
		"customer": {"id": nil},
	}),
	"products": with(common, webhook.Shape{"variants": {"id": nil, "updated_at": nil}}),
	TopicCustomersRedact: {
		"shop_id": nil, "shop_domain": nil, "customer": {"id": nil}, "orders_to_redact": nil,
	},
	TopicCustomersDataRequest: {
		"shop_id": nil, "shop_domain": nil, "customer": {"id": nil}, "orders_requested": nil,
		"data_request": {"id": nil},
	},
	TopicShopRedact: {"shop_id": nil, "shop_domain": nil},
}

func with(base, more webhook.Shape) webhook.Shape {
	out := webhook.Shape{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// PayloadMode is the mode a delivery of topic is stored under when the
// policy says mode: the policy's choice, or by default minimal for
// orders/*, customers/*, checkouts/* and the privacy topics and full
// elsewhere. The privacy topics are never kept in full: their bodies name
// the very customer to be forgotten.
func PayloadMode(topic string, mode webhook.Payload) webhook.Payload {
	resource, _, _ := strings.Cut(topic, "/")
	privacy := IsPrivacyTopic(topic)
	if mode == webhook.PayloadDefault {
		mode = webhook.PayloadFull
		if privacy || personalResources[resource] {
			mode = webhook.PayloadMinimal
		}
	}
	if privacy && mode == webhook.PayloadFull {
		mode = webhook.PayloadMinimal
	}
	return mode
}

// MinimizePayload is what the stored event of a delivery of topic keeps
// of its body under mode (see PayloadMode): the body, its minimal shape
// (nil when the body is not an object), or nothing.
func MinimizePayload(topic string, raw []byte, mode webhook.Payload) json.RawMessage {
	switch PayloadMode(topic, mode) {
	case webhook.PayloadFull:
		return json.RawMessage(raw)
	case webhook.PayloadNone:
		return nil
	}
	resource, _, _ := strings.Cut(topic, "/")
	shape, ok := shapes[topic]
	if !ok {
		if shape, ok = shapes[resource]; !ok {
			shape = common
		}
	}
	return webhook.Keep(raw, shape)
}

// PrivacyRequest is what a privacy webhook asks
// (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance):
// customers/data_request and customers/redact name a customer (id, email,
// phone) and orders; shop/redact a shop.
type PrivacyRequest struct {
	Topic      string
	ShopDomain string
	CustomerID string
	Email      string
	Phone      string
	// OrderIDs are orders_to_redact or orders_requested.
	OrderIDs []string
}

// ParsePrivacy reads a privacy topic's body. ok is false for other topics.
func ParsePrivacy(topic string, body []byte) (req PrivacyRequest, ok bool, err error) {
	if !IsPrivacyTopic(topic) {
		return PrivacyRequest{}, false, nil
	}
	var b struct {
		ShopDomain string `json:"shop_domain"`
		Customer   *struct {
			ID    json.Number `json:"id"`
			Email string      `json:"email"`
			Phone string      `json:"phone"`
		} `json:"customer"`
		OrdersToRedact  []json.Number `json:"orders_to_redact"`
		OrdersRequested []json.Number `json:"orders_requested"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return PrivacyRequest{}, true, webhook.Malformed("%s body: %s", topic, "not a privacy request")
	}
	req = PrivacyRequest{Topic: topic, ShopDomain: strings.ToLower(b.ShopDomain)}
	if topic == TopicShopRedact {
		if req.ShopDomain == "" {
			return PrivacyRequest{}, true, webhook.Malformed("%s body has no shop_domain", topic)
		}
		return req, true, nil
	}
	if b.Customer == nil || (b.Customer.ID == "" && b.Customer.Email == "" && b.Customer.Phone == "") {
		return PrivacyRequest{}, true, webhook.Malformed("%s body names no customer", topic)
	}
	req.CustomerID, req.Email, req.Phone = b.Customer.ID.String(), b.Customer.Email, b.Customer.Phone
	for _, id := range append(b.OrdersToRedact, b.OrdersRequested...) {
		req.OrderIDs = append(req.OrderIDs, id.String())
	}
	return req, true, nil
}
