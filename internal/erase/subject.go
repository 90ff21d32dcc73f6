// Package erase removes what the store holds about a person, a shop or a
// client on request (blackwell erase, Shopify's customers/redact and
// shop/redact), and tells what it holds (customers/data_request). Events
// whose payload names the subject are deleted, with the content-cache rows
// and pending notifications that name it; the audit log records that an
// erasure happened, its counts and a SHA-256 of what was erased, never the
// data. It works on the store as the program sees it, so sealed payloads
// (package seal) are matched after they are opened.
package erase

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Subject is whom a request is about.
type Subject struct {
	// Values are matched case-insensitively against every string of a
	// payload, as substrings: emails, phone numbers.
	Values []string
	// IDs are matched against an event's content id (whole, or the last
	// part of a gid://shopify/Type/ID) and against the values of a
	// payload's keys named id or ending in _id, and the elements of its
	// lists named orders_to_redact, orders_requested or ending in _ids.
	IDs []string
}

// Empty reports a subject that matches nothing.
func (s Subject) Empty() bool { return len(s.Values) == 0 && len(s.IDs) == 0 }

// MatchesID reports whether a content id names one of the subject's ids.
func (s Subject) MatchesID(contentID string) bool {
	if contentID == "" {
		return false
	}
	for _, id := range s.IDs {
		if id == "" {
			continue
		}
		if contentID == id || strings.HasPrefix(contentID, "gid://") && strings.HasSuffix(contentID, "/"+id) {
			return true
		}
	}
	return false
}

// Matches reports whether a JSON payload names the subject. A payload that
// is not JSON is matched as text against Values.
func (s Subject) Matches(payload []byte) bool {
	if len(payload) == 0 || s.Empty() {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s.matchText(string(payload))
	}
	return s.walk(v, "")
}

func (s Subject) matchText(text string) bool {
	lower := strings.ToLower(text)
	for _, v := range s.Values {
		if v != "" && strings.Contains(lower, strings.ToLower(v)) {
			return true
		}
	}
	return false
}

// idKey reports a key whose scalar value is an id.
func idKey(key string) bool { return key == "id" || strings.HasSuffix(key, "_id") }

// idListKey reports a key whose list holds ids.
func idListKey(key string) bool {
	return key == "orders_to_redact" || key == "orders_requested" || strings.HasSuffix(key, "_ids")
}

func (s Subject) matchID(v any) bool {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string:
		text = x
	default:
		return false
	}
	for _, id := range s.IDs {
		if id != "" && (text == id || strings.HasPrefix(text, "gid://") && strings.HasSuffix(text, "/"+id)) {
			return true
		}
	}
	return false
}

// walk visits v, the value of key (list elements inherit their list's key).
func (s Subject) walk(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s.walk(e, k) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if idListKey(key) && s.matchID(e) {
				return true
			}
			if s.walk(e, "") {
				return true
			}
		}
	case string:
		if s.matchText(x) {
			return true
		}
		return idKey(key) && s.matchID(x)
	case json.Number:
		return idKey(key) && s.matchID(x)
	}
	return false
}

// SubjectOf is the subject that names the given emails and ids: a value
// with an @ is an email (matched in any string of a payload), any other an
// id; blanks are dropped.
func SubjectOf(names []string) Subject {
	var s Subject
	for _, n := range names {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case strings.Contains(n, "@"):
			s.Values = append(s.Values, n)
		default:
			s.IDs = append(s.IDs, n)
		}
	}
	return s
}
