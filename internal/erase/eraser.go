package erase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/store"
)

// Audit actions.
const (
	ActionErased      = "data_erased"
	ActionDataRequest = "data_request_answered"
)

// privacyEventTypes are the events of Shopify's privacy webhooks: the
// record of a request, never erased by one (their minimal payload holds
// the customer's id and order ids, not the email or phone).
var privacyEventTypes = []string{"customer.redact", "customer.data_request", "shop.redact"}

// Request is one erasure or data request, about the client's data only.
type Request struct {
	ClientID string
	// Subject, when not empty, limits the request to what names the
	// subject (a person).
	Subject Subject
	// Shop, when set, is a Shopify shop whose data goes (shop/redact):
	// every Shopify event of the client and the shop's content-cache rows.
	Shop string
	// Everything is the whole client's data: every event, content-cache
	// row and pending notification of the client. It must be said: an
	// empty Subject and no Shop is otherwise an error.
	Everything bool
	// By names who asked (the audit entry's triggered_by), Reason why
	// ("cli", "shopify customers/redact <event id>").
	By     string
	Reason string
}

func (r Request) scope() (string, error) {
	switch {
	case r.ClientID == "":
		return "", errors.New("a client is required")
	case !r.Subject.Empty():
		return "subject", nil
	case r.Shop != "":
		return "shop", nil
	case r.Everything:
		return "client", nil
	}
	return "", errors.New("name a subject, a shop, or everything of the client")
}

// Report is what a request found, or erased.
type Report struct {
	Scope   string `json:"scope"`
	Events  int    `json:"events"`
	Content int    `json:"content"`
	Outbox  int    `json:"outbox"`
	// EventTypes counts the events by type.
	EventTypes map[string]int `json:"event_types,omitempty"`
	// SHA256 is a digest of the rows found (table, key and payload of
	// each, in order): proof of what was erased without keeping it.
	SHA256 string `json:"sha256"`
}

// Eraser runs requests on a store (the sealing store when payloads are
// sealed: it matches opened payloads).
type Eraser struct {
	Store store.Store
	Now   func() time.Time
	// Batch bounds the rows read and deleted per statement (default 500).
	Batch int
}

// Erase deletes what the request names and appends an audit entry
// (data_erased) with the report; it returns the report. Rows are deleted
// batch by batch: an error leaves those deleted so far deleted, and a
// second run finds the rest.
func (e *Eraser) Erase(ctx context.Context, req Request) (Report, error) {
	return e.run(ctx, req, true)
}

// Find reports what the store holds that the request names, deletes
// nothing, and appends an audit entry (data_request_answered) with the
// report.
func (e *Eraser) Find(ctx context.Context, req Request) (Report, error) {
	return e.run(ctx, req, false)
}

func (e *Eraser) run(ctx context.Context, req Request, del bool) (Report, error) {
	scope, err := req.scope()
	if err != nil {
		return Report{}, err
	}
	batch := e.Batch
	if batch <= 0 {
		batch = 500
	}
	batch = min(batch, store.MaxLimit)
	rep := Report{Scope: scope, EventTypes: map[string]int{}}
	h := sha256.New()
	if rep.Events, err = e.events(ctx, req, h, rep.EventTypes, batch, del); err != nil {
		return rep, err
	}
	if rep.Content, err = e.content(ctx, req, h, del); err != nil {
		return rep, err
	}
	if rep.Outbox, err = e.outbox(ctx, req, h, batch, del); err != nil {
		return rep, err
	}
	rep.SHA256 = hex.EncodeToString(h.Sum(nil))
	action := ActionDataRequest
	if del {
		action = ActionErased
	}
	changes, err := json.Marshal(struct {
		Reason string `json:"reason"`
		Report
	}{req.Reason, rep})
	if err != nil {
		return rep, fmt.Errorf("encode audit entry: %w", err)
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	if err := e.Store.AppendAudit(ctx, []store.AuditEntry{{Timestamp: now(), Action: action, ClientID: req.ClientID,
		TriggeredBy: req.By, Success: true, ChangesMade: changes}}); err != nil {
		return rep, fmt.Errorf("audit %s: %w", action, err)
	}
	return rep, nil
}

func digest(h hash.Hash, table store.PayloadTable, key string, payload []byte) {
	h.Write([]byte(table))
	h.Write([]byte{0})
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write(payload)
	h.Write([]byte{'\n'})
}

// events finds (and deletes) the client's events the request names. Events
// without a payload are found by content id only (a subject's id), or all
// of them (shop, everything): they are read through ListEvents.
func (e *Eraser) events(ctx context.Context, req Request, h hash.Hash, types map[string]int, batch int, del bool) (int, error) {
	provider := ""
	if req.Shop != "" && req.Subject.Empty() {
		provider = shopify.Name
	}
	found := 0
	flush := func(keys []string) error {
		if !del || len(keys) == 0 {
			return nil
		}
		_, err := e.Store.DeleteRows(ctx, store.PayloadEvents, keys)
		return err
	}
	// ListEvents sees events with and without payloads; its pages are
	// newest first by time, cursor-paginated, stable under deletes of
	// rows already read.
	q := store.EventQuery{ClientID: req.ClientID, ProviderName: provider, Limit: batch}
	for {
		evs, next, err := e.Store.ListEvents(ctx, q)
		if err != nil {
			return found, fmt.Errorf("read events of %s: %w", req.ClientID, err)
		}
		var keys []string
		for _, ev := range evs {
			if slices.Contains(privacyEventTypes, ev.EventType) {
				continue
			}
			match := req.Subject.Empty() // shop or everything
			if !match {
				match = req.Subject.MatchesID(ev.ContentID) || req.Subject.Matches(ev.Payload)
			}
			if !match {
				continue
			}
			digest(h, store.PayloadEvents, ev.EventID, ev.Payload)
			types[ev.EventType]++
			keys = append(keys, ev.EventID)
			found++
		}
		if err := flush(keys); err != nil {
			return found, fmt.Errorf("erase events of %s: %w", req.ClientID, err)
		}
		if next == "" {
			return found, nil
		}
		q.Cursor = next
	}
}

// content finds (and deletes) the client's content-cache rows the request
// names: a subject's ids, a shop's rows, or all.
func (e *Eraser) content(ctx context.Context, req Request, h hash.Hash, del bool) (int, error) {
	var items []store.ContentItem
	collect := func(q store.ContentQuery) error {
		q.IncludeDeleted, q.Limit = true, store.MaxLimit
		for {
			page, next, err := e.Store.ListContent(ctx, q)
			if err != nil {
				return fmt.Errorf("read content of %s: %w", req.ClientID, err)
			}
			for _, it := range page {
				if req.Shop != "" && req.Subject.Empty() && !strings.EqualFold(it.Source, req.Shop) {
					continue
				}
				if !req.Subject.Empty() && !req.Subject.MatchesID(it.ContentID) {
					continue
				}
				items = append(items, it)
			}
			if next == "" {
				return nil
			}
			q.Cursor = next
		}
	}
	switch {
	case !req.Subject.Empty():
		for _, id := range req.Subject.IDs {
			if err := collect(store.ContentQuery{ClientID: req.ClientID, ContentID: id}); err != nil {
				return 0, err
			}
		}
	case req.Shop != "":
		if err := collect(store.ContentQuery{ClientID: req.ClientID, ProviderName: shopify.Name}); err != nil {
			return 0, err
		}
	default:
		if err := collect(store.ContentQuery{ClientID: req.ClientID}); err != nil {
			return 0, err
		}
	}
	byProvider := map[string][]string{}
	for _, it := range items {
		row, _ := json.Marshal(it)
		digest(h, "content", it.ProviderName+"/"+it.Source+"/"+it.ContentID, row)
		byProvider[it.ProviderName] = append(byProvider[it.ProviderName], it.ContentID)
	}
	if !del {
		return len(items), nil
	}
	// By provider, whichever providers the rows are of, in a stable order.
	for _, p := range slices.Sorted(maps.Keys(byProvider)) {
		ids := byProvider[p]
		q := store.ContentErase{ClientID: req.ClientID, ProviderName: p, ContentIDs: ids}
		if req.Shop != "" && req.Subject.Empty() {
			q.Source = strings.ToLower(req.Shop)
		}
		if _, err := e.Store.DeleteContent(ctx, q); err != nil {
			return 0, fmt.Errorf("erase content of %s: %w", req.ClientID, err)
		}
	}
	return len(items), nil
}

// outbox finds (and deletes) the client's pending notifications that name
// the subject or the shop, or all of them.
func (e *Eraser) outbox(ctx context.Context, req Request, h hash.Hash, batch int, del bool) (int, error) {
	found, after := 0, ""
	for {
		rows, err := e.Store.ScanPayloads(ctx, store.PayloadScan{Table: store.PayloadOutbox, After: after, Limit: batch})
		if err != nil {
			return found, fmt.Errorf("read outbox: %w", err)
		}
		var keys []string
		for _, r := range rows {
			after = r.Key
			// Notifications name their client (notify.Message.client_id).
			var m struct {
				ClientID string `json:"client_id"`
			}
			match := json.Unmarshal(r.Payload, &m) == nil && m.ClientID == req.ClientID
			switch {
			case !match:
			case !req.Subject.Empty():
				match = req.Subject.Matches(r.Payload)
			case req.Shop != "":
				match = Subject{Values: []string{req.Shop}}.Matches(r.Payload)
			}
			if !match {
				continue
			}
			digest(h, store.PayloadOutbox, r.Key, r.Payload)
			keys = append(keys, r.Key)
			found++
		}
		if del && len(keys) > 0 {
			if _, err := e.Store.DeleteRows(ctx, store.PayloadOutbox, keys); err != nil {
				return found, fmt.Errorf("erase outbox: %w", err)
			}
		}
		if len(rows) < batch {
			return found, nil
		}
	}
}
