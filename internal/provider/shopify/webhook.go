package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// Name is the provider name of a binding and of the receiver path
// /v1/webhooks/shopify/{client_id}.
const Name = "shopify"

// The headers of a delivery, as Shopify documents them
// (https://shopify.dev/docs/api/webhooks/latest, "Headers"; the names match
// WEBHOOK_HEADER_NAMES of Shopify/shopify-app-js).
const (
	HeaderHmac        = "X-Shopify-Hmac-Sha256"
	HeaderTopic       = "X-Shopify-Topic"
	HeaderShopDomain  = "X-Shopify-Shop-Domain"
	HeaderAPIVersion  = "X-Shopify-API-Version"
	HeaderWebhookID   = "X-Shopify-Webhook-Id"
	HeaderEventID     = "X-Shopify-Event-Id"
	HeaderTriggeredAt = "X-Shopify-Triggered-At"
)

// The verification errors (shared by every provider; see package webhook).
var (
	ErrMissingSignature = webhook.ErrMissingSignature
	ErrBadSignature     = webhook.ErrBadSignature
	ErrMalformed        = webhook.ErrMalformed
	ErrStale            = webhook.ErrStale
)

// Sign returns the X-Shopify-Hmac-Sha256 value of a body: standard, padded
// base64 of HMAC-SHA256 keyed with the app's client secret over the raw
// body bytes
// (https://shopify.dev/docs/apps/build/webhooks/verify-deliveries).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks X-Shopify-Hmac-Sha256 against each active secret (several
// during a rotation: Shopify may take up to an hour to sign with a new
// secret) in constant time. Shopify signs no timestamp, so now is unused
// and a replay cannot be told from a retry here: retries resend the
// original payload, and deduplication by event id (Normalize) and the
// content cache's newest-wins rule absorb both.
func Verify(secrets []string, headers http.Header, body []byte, now time.Time) error {
	_ = now
	got := headers.Get(HeaderHmac)
	if got == "" {
		return ErrMissingSignature
	}
	mac, err := base64.StdEncoding.DecodeString(got)
	if err != nil || len(mac) != sha256.Size {
		return webhook.Malformed("%s is not a base64 HMAC-SHA256", HeaderHmac)
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), mac) {
			return nil
		}
	}
	return ErrBadSignature
}

// Delivery describes a delivery's headers, for fakes and tests that send
// one the way Shopify does.
type Delivery struct {
	Topic       string // products/update
	ShopDomain  string // acme.myshopify.com
	APIVersion  string // 2025-07
	WebhookID   string
	EventID     string
	TriggeredAt time.Time
}

// Header returns the delivery's headers with the body signed by secret.
func (d Delivery) Header(secret string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderTopic, d.Topic)
	h.Set(HeaderShopDomain, d.ShopDomain)
	if d.APIVersion != "" {
		h.Set(HeaderAPIVersion, d.APIVersion)
	}
	h.Set(HeaderWebhookID, d.WebhookID)
	if d.EventID != "" {
		h.Set(HeaderEventID, d.EventID)
	}
	if !d.TriggeredAt.IsZero() {
		h.Set(HeaderTriggeredAt, d.TriggeredAt.UTC().Format("2006-01-02T15:04:05.000000Z"))
	}
	h.Set(HeaderHmac, Sign(secret, body))
	return h
}

// TriggeredAt returns X-Shopify-Triggered-At, when the event fired.
func TriggeredAt(headers http.Header) (time.Time, bool) {
	v := headers.Get(HeaderTriggeredAt)
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

// Stale reports a delivery whose event fired more than webhook.Tolerance
// before now: a retry of an old payload (Shopify retries for 4 hours and
// resends the original body; shopify.dev changelog "Updates to webhook
// retry mechanism", 2024-09-10). It is accepted, not rejected: its event
// is stored once, and its content state only lands if nothing newer did.
func Stale(headers http.Header, now time.Time) bool {
	t, ok := TriggeredAt(headers)
	return ok && now.Sub(t) > webhook.Tolerance
}

// contentResources are the topic resources that are site content, with the
// GraphQL type that names their ids (gid://shopify/Product/1).
var contentResources = map[string]struct{ contentType, gidType string }{
	"products":    {"product", "Product"},
	"collections": {"collection", "Collection"},
}

// EventCollectionDeleted is the provider-level type of collections/delete.
const EventCollectionDeleted = "collection.deleted"

// body is the part of a topic's REST resource that normalisation reads.
type body struct {
	ID        string // the id, a JSON number (or a string holding one)
	UpdatedAt string
	// state: the body carries created_at or updated_at, as the REST
	// resource of every create and update topic does and a delete's body
	// ({"id": ...}) does not.
	state bool
}

// readBody validates a delivery's body and reads its top-level id and
// updated_at without decoding the rest (a product is mostly variants,
// options and images). ok is false when the body is not a JSON object, or
// id or updated_at has the wrong type.
func readBody(raw []byte) (b body, ok bool) {
	v, ok := webhook.TopLevel(raw, "id", "updated_at", "created_at")
	if !ok {
		return body{}, false
	}
	b.state = v[1] != nil || v[2] != nil
	if id := v[0]; id != nil {
		switch {
		case id[0] == '"':
			var n json.Number
			if json.Unmarshal(id, &n) != nil {
				return body{}, false
			}
			b.ID = n.String()
		case id[0] == '-' || id[0] >= '0' && id[0] <= '9':
			b.ID = string(id)
		case string(id) != "null":
			return body{}, false
		}
	}
	if u := v[1]; u != nil && string(u) != "null" {
		if u[0] != '"' || json.Unmarshal(u, &b.UpdatedAt) != nil {
			return body{}, false
		}
	}
	return b, true
}

// Normalize turns a verified delivery into the event to store and, for a
// product or collection, its content-cache state.
//
//   - The event id is X-Shopify-Event-Id (the same value on every delivery
//     of one event: https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates),
//     or X-Shopify-Webhook-Id when absent, namespaced "shopify:<client>:".
//   - products/create|update|delete are content.created|updated|deleted of
//     content type product; collections/create|update likewise with type
//     collection; collections/delete is collection.deleted and a
//     tombstone. Other topics become "<resource>.<action>" in the singular
//     past tense: orders/create is order.created, orders/paid order.paid.
//   - The content id is the resource's GraphQL id built from the topic and
//     the body's id (a delete's body holds only the id).
//   - The time is the body's updated_at, or X-Shopify-Triggered-At (a
//     delete), or now; one in the future beyond the tolerance is now.
func Normalize(headers http.Header, raw []byte, clientID, stackID string, now time.Time) (store.Event, *store.ContentItem, error) {
	topic := headers.Get(HeaderTopic)
	resource, action, ok := strings.Cut(topic, "/")
	if !ok || !validTopicPart(resource) || !validTopicPart(action) {
		return store.Event{}, nil, webhook.Malformed("%s %q is not resource/action", HeaderTopic, clip(topic))
	}
	shop := strings.ToLower(headers.Get(HeaderShopDomain))
	if err := webhook.CheckID(HeaderShopDomain, shop); err != nil {
		return store.Event{}, nil, err
	}
	deliveryID, idHeader := headers.Get(HeaderEventID), HeaderEventID
	if deliveryID == "" {
		deliveryID, idHeader = headers.Get(HeaderWebhookID), HeaderWebhookID
	}
	if err := webhook.CheckID(idHeader, deliveryID); err != nil {
		return store.Event{}, nil, err
	}

	b, ok := readBody(raw)
	if !ok {
		return store.Event{}, nil, webhook.Malformed("body is not a JSON object of a Shopify resource")
	}
	if err := checkTopicShape(resource, action, b); err != nil {
		return store.Event{}, nil, err
	}

	when := now
	if t, err := time.Parse(time.RFC3339Nano, b.UpdatedAt); err == nil && action != "delete" {
		when = t
	} else if t, ok := TriggeredAt(headers); ok {
		when = t
	}
	if when.Sub(now) > webhook.Tolerance {
		when = now
	}

	ev := store.Event{
		EventID:      webhook.EventID(Name, clientID, deliveryID),
		ClientID:     clientID,
		StackID:      stackID,
		ProviderName: Name,
		EventType:    singular(resource) + "." + pastTense(action),
		Timestamp:    when,
		Payload:      json.RawMessage(raw),
		ReceivedAt:   now,
	}
	if b.ID != "" {
		ev.ContentID = b.ID
	}
	res, isContent := contentResources[resource]
	if !isContent {
		if ev.ContentID != "" {
			if err := webhook.CheckID("id", ev.ContentID); err != nil {
				return store.Event{}, nil, err
			}
		}
		return ev, nil, nil
	}
	id, err := strconv.ParseUint(b.ID, 10, 63)
	if err != nil || id == 0 {
		return store.Event{}, nil, webhook.Malformed("%s body has no numeric id", topic)
	}
	ev.ContentID = "gid://shopify/" + res.gidType + "/" + strconv.FormatUint(id, 10)
	ev.ContentType = res.contentType
	switch action {
	case "create":
		ev.EventType = webhook.ContentCreated
	case "update":
		ev.EventType = webhook.ContentUpdated
	case "delete":
		ev.EventType = webhook.ContentDeleted
		if resource == "collections" {
			ev.EventType = EventCollectionDeleted
		}
	default:
		// products/<other> is not a change of the item's content.
		return ev, nil, nil
	}
	return ev, &store.ContentItem{
		ProviderName: Name,
		Source:       shop,
		ContentID:    ev.ContentID,
		ContentType:  ev.ContentType,
		UpdatedAt:    when,
		Deleted:      action == "delete",
	}, nil
}

// idDeletes are the resources whose */delete body is {"id": ...} in
// shopify.dev's webhook reference (products/delete, collections/delete,
// which may add published_scope and admin_graphql_api_id, orders/delete):
// never a resource's state. Other resources' delete bodies vary
// (customers/delete carries more fields, inventory_levels/delete no id)
// and are not checked.
var idDeletes = map[string]bool{"products": true, "collections": true, "orders": true}

// checkTopicShape refuses a body that cannot be what Shopify signed for
// the topic. Shopify's HMAC covers the body only: X-Shopify-Topic is not
// signed, so a captured delivery could be sent again under another topic.
// A body with a resource's state (created_at or updated_at) under
// products|collections|orders/delete is a create or update replayed as a
// delete, which would tombstone the item. The reverse, a delete's bare id
// under products|collections/create or update, would revive a deleted item
// at a time taken from an unsigned header: their REST resource always
// carries updated_at.
func checkTopicShape(resource, action string, b body) error {
	_, isContent := contentResources[resource]
	switch {
	case action == "delete" && idDeletes[resource] && b.state:
		return fmt.Errorf("%w: a %s/delete body holds the id only, this one a resource's state (a create or update sent again as a delete?)", webhook.ErrMismatch, resource)
	case isContent && (action == "create" || action == "update") && b.UpdatedAt == "":
		return fmt.Errorf("%w: a %s/%s body carries updated_at, this one does not (a delete sent again under this topic?)", webhook.ErrMismatch, resource, action)
	}
	return nil
}

// ShopDomain is the canonical form of a shop as settings.shop names it
// ("acme" or "acme.myshopify.com") and as X-Shopify-Shop-Domain carries
// it: lower case, with .myshopify.com when it has no dot.
func ShopDomain(shop string) string {
	shop = strings.ToLower(strings.TrimSpace(shop))
	if shop != "" && !strings.Contains(shop, ".") {
		shop += ".myshopify.com"
	}
	return shop
}

// CheckShop refuses a delivery whose X-Shopify-Shop-Domain is not the
// shop of a binding it was matched to (settings.shop of each). The header
// is not signed, but the signing secret is the app's, shared by every shop
// that installed it: a delivery signed for another shop verifies too. A
// binding that names no shop (settings.api_base only) cannot be checked,
// so when one of the bindings names none, any shop is accepted.
func CheckShop(headers http.Header, settings []map[string]string) error {
	var shops []string
	for _, s := range settings {
		shop := ShopDomain(s["shop"])
		if shop == "" {
			return nil
		}
		shops = append(shops, shop)
	}
	if len(shops) == 0 {
		return nil
	}
	got := strings.ToLower(headers.Get(HeaderShopDomain))
	for _, shop := range shops {
		if got == shop {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %q is not the shop of this binding", webhook.ErrMismatch, HeaderShopDomain, clip(got))
}

// validTopicPart accepts a topic's resource or action: lower case letters,
// digits and underscores, at most 64 bytes.
func validTopicPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// singular makes a topic's plural resource singular (orders -> order,
// inventory_levels -> inventory_level); singular ones (shop, app) stay.
func singular(resource string) string {
	if len(resource) > 1 && strings.HasSuffix(resource, "s") && !strings.HasSuffix(resource, "ss") {
		return resource[:len(resource)-1]
	}
	return resource
}

// pastTense maps the CRUD actions to the spec's past tense; other actions
// (paid, fulfilled, uninstalled) already are.
func pastTense(action string) string {
	switch action {
	case "create":
		return "created"
	case "update":
		return "updated"
	case "delete":
		return "deleted"
	}
	return action
}

// clip shortens a header value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
