package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Hash returns the canonical JSON of a stack spec and its SHA-256 in hex
// (the desired_hash of the stack). The canonical form has sorted keys, no
// empty values (empty strings, lists, objects and nulls are left out, so
// that "not written" and "written empty" hash alike), no HTML escaping and
// no insignificant whitespace; secrets appear as their references, never
// their values, and durations in their canonical form. Two specs that decode
// to the same values hash the same, whatever the YAML's key order,
// formatting, style or comments.
func Hash(spec StackSpec) (canonical []byte, sum string, err error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, "", fmt.Errorf("marshal stack spec: %w", err)
	}
	canonical, err = canonicalJSON(raw)
	if err != nil {
		return nil, "", fmt.Errorf("canonicalize stack spec: %w", err)
	}
	h := sha256.Sum256(canonical)
	return canonical, hex.EncodeToString(h[:]), nil
}

// canonicalJSON re-encodes JSON with sorted keys and without empty members.
func canonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	v, _ = prune(v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// prune drops empty members of objects; keep is false for an empty value.
func prune(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return x, x != ""
	case map[string]any:
		for k, e := range x {
			if pe, keep := prune(e); keep {
				x[k] = pe
			} else {
				delete(x, k)
			}
		}
		return x, len(x) > 0
	case []any:
		for i, e := range x {
			x[i], _ = prune(e)
		}
		return x, len(x) > 0
	}
	return v, true
}
