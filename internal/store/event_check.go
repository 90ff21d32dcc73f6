package store

import "fmt"

// CheckEvent rejects an event that cannot be stored: it needs an event id
// and a client id, and a payload, when it has one, that is JSON.
func CheckEvent(e Event) error {
	if e.EventID == "" || e.ClientID == "" {
		return fmt.Errorf("event and client ids are required (got %q, %q)", e.EventID, e.ClientID)
	}
	if len(e.Payload) > 0 && !ValidJSON(e.Payload) {
		return fmt.Errorf("event %s: payload is not valid JSON", e.EventID)
	}
	return nil
}

// CheckIngest validates the input of IngestEvents before anything is
// written: every event passes CheckEvent, and a content item names its
// provider and content id.
func CheckIngest(in []IngestEvent) error {
	for _, r := range in {
		if err := CheckEvent(r.Event); err != nil {
			return err
		}
		if c := r.Content; c != nil && (c.ContentID == "" || c.ProviderName == "") {
			return fmt.Errorf("event %s: content item needs a provider and a content id", r.Event.EventID)
		}
	}
	return nil
}

// maxJSONDepth is how deeply arrays and objects may nest in ValidJSON, as
// in encoding/json.
const maxJSONDepth = 10000

// ValidJSON reports whether b is one JSON value, with whitespace around it
// allowed, deciding exactly as encoding/json's Valid does (strings are not
// checked for UTF-8; nesting deeper than 10,000 is refused), and several
// times faster: a webhook's payload is checked on every delivery, by the
// receiver and again by the store. FuzzValidJSON compares the two.
func ValidJSON(b []byte) bool {
	var buf [32]byte
	open := buf[:0] // the arrays and objects the value is inside: '[' or '{'
	i := skipSpace(b, 0)
value: // a value starts at i
	for {
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(open) >= maxJSONDepth {
				return false
			}
			open = append(open, c)
			if i = skipSpace(b, i+1); i < len(b) && b[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				open = open[:len(open)-1]
				i++
				break // an empty one: a value
			}
			if c == '{' {
				if i = skipKey(b, i); i < 0 {
					return false
				}
			}
			continue value
		case '"':
			if i = skipString(b, i); i < 0 {
				return false
			}
		case 't':
			if !hasLiteral(b, i, "true") {
				return false
			}
			i += 4
		case 'f':
			if !hasLiteral(b, i, "false") {
				return false
			}
			i += 5
		case 'n':
			if !hasLiteral(b, i, "null") {
				return false
			}
			i += 4
		default:
			if i = skipNumber(b, i); i < 0 {
				return false
			}
		}
		// After a value: the end, a comma and the next, or a close.
		for {
			i = skipSpace(b, i)
			if len(open) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := open[len(open)-1]
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if top == '{' {
					if i = skipKey(b, i); i < 0 {
						return false
					}
				}
				continue value
			case top + 2:
				open = open[:len(open)-1]
				i++
			default:
				return false
			}
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipKey skips an object's key and its colon from b[i]; the index of the
// value, or -1 when there is no key.
func skipKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = skipString(b, i); i < 0 {
		return -1
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// skipString returns the index after the string starting at b[i] ('"'),
// or -1 when it is not a valid one.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		switch {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 5
			default:
				return -1
			}
		case c < 0x20:
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipNumber returns the index after the number starting at b[i], or -1
// when none does: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i
}

func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}
