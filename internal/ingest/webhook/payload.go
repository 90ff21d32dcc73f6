package webhook

import (
	"bytes"
	"encoding/json"
)

// Payload is how much of a delivery's body its stored event keeps: the
// policy's events.payload.
type Payload string

// The payload modes. Each provider decides what its default means per
// topic and what a minimal payload keeps (MinimizePayload in
// internal/provider/<name>/webhook.go).
const (
	// PayloadDefault: the provider's default for the topic (minimal for
	// topics that carry personal data, full elsewhere).
	PayloadDefault Payload = ""
	// PayloadMinimal keeps what drift and content detection use: ids,
	// handles, status, timestamps, versions.
	PayloadMinimal Payload = "minimal"
	// PayloadFull keeps the body as delivered.
	PayloadFull Payload = "full"
	// PayloadNone keeps no body (the event's columns remain).
	PayloadNone Payload = "none"
)

// Payloads are the values of events.payload, as a policy writes them.
func Payloads() []string {
	return []string{string(PayloadMinimal), string(PayloadFull), string(PayloadNone)}
}

// rank orders the modes by how much they may keep: none < minimal <
// default (minimal or full) < full.
func (p Payload) rank() int {
	switch p {
	case PayloadNone:
		return 0
	case PayloadMinimal:
		return 1
	case PayloadDefault:
		return 2
	}
	return 3
}

// Least returns the mode that keeps least of a and b: a delivery that
// concerns several stacks is stored once, under the most protective of
// their policies.
func Least(a, b Payload) Payload {
	if b.rank() < a.rank() {
		return b
	}
	return a
}

// Shape names the fields of a JSON object that a minimal payload keeps.
// A key mapped to nil keeps its value when it is a scalar (string, number,
// boolean, null) or an array of scalars; a key mapped to a Shape keeps
// that shape of an object value, or of each object of an array value.
// Anything else (an object where a scalar was expected, a key not named)
// is dropped.
type Shape map[string]Shape

// Keep returns the part of body that shape names, as compact JSON with
// sorted keys. A body that is not a JSON object keeps nothing (nil).
func Keep(body []byte, shape Shape) json.RawMessage {
	out, ok := keepObject(body, shape)
	if !ok {
		return nil
	}
	return out
}

func keepObject(raw []byte, shape Shape) (json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		return nil, false
	}
	kept := make(map[string]json.RawMessage, len(shape))
	for key, sub := range shape {
		v, ok := obj[key]
		if !ok {
			continue
		}
		if out, ok := keepValue(v, sub); ok {
			kept[key] = out
		}
	}
	out, err := json.Marshal(kept)
	if err != nil {
		return nil, false
	}
	return out, true
}

func keepValue(v json.RawMessage, sub Shape) (json.RawMessage, bool) {
	t := bytes.TrimLeft(v, " \t\r\n")
	if len(t) == 0 {
		return nil, false
	}
	switch t[0] {
	case '{':
		if sub == nil {
			return nil, false
		}
		return keepObject(t, sub)
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(t, &items) != nil {
			return nil, false
		}
		kept := make([]json.RawMessage, 0, len(items))
		for _, it := range items {
			it = bytes.TrimLeft(it, " \t\r\n")
			scalar := len(it) > 0 && it[0] != '{' && it[0] != '['
			switch {
			case sub == nil && scalar:
				kept = append(kept, it)
			case sub != nil && !scalar:
				if out, ok := keepObject(it, sub); ok {
					kept = append(kept, out)
				}
			}
		}
		out, err := json.Marshal(kept)
		return out, err == nil
	default:
		if sub != nil {
			return nil, false
		}
		return t, true
	}
}
