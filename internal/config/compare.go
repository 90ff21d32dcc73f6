package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// Change is one changed path between two JSON documents (a stack's
// canonical spec, a policy's effective spec).
type Change struct {
	Op   string `json:"op"` // + added, - removed, ~ changed
	Path string `json:"path"`
	From any    `json:"from,omitempty"`
	To   any    `json:"to,omitempty"`
}

// DiffJSON lists the paths where to differs from from, decoded JSON
// values under path. Objects are compared key by key (in key order);
// arrays and scalars as whole values.
func DiffJSON(path string, from, to any) []Change {
	fm, fok := from.(map[string]any)
	tm, tok := to.(map[string]any)
	if !fok || !tok {
		switch {
		case from == nil && to == nil:
			return nil
		case from == nil:
			return []Change{{Op: "+", Path: path, To: to}}
		case to == nil:
			return []Change{{Op: "-", Path: path, From: from}}
		case reflect.DeepEqual(from, to):
			return nil
		}
		return []Change{{Op: "~", Path: path, From: from, To: to}}
	}
	keys := make([]string, 0, len(fm)+len(tm))
	for k := range fm {
		keys = append(keys, k)
	}
	for k := range tm {
		if _, ok := fm[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []Change
	for _, k := range keys {
		out = append(out, DiffJSON(JoinPath(path, k), fm[k], tm[k])...)
	}
	return out
}

// JoinPath appends a key to a dotted path; keys that are not plain words
// are quoted in brackets.
func JoinPath(path, key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// PolicyAction is what applying a file would do to one of its policies.
type PolicyAction string

// The policy actions.
const (
	// PolicyCreate: the server holds no policy at the file policy's level
	// (the stack's own, or the client-wide one).
	PolicyCreate PolicyAction = "create"
	// PolicyChange: it holds one, and the effective specs differ.
	PolicyChange PolicyAction = "change"
	// PolicyUnchanged: it holds one with the same effective spec.
	PolicyUnchanged PolicyAction = "unchanged"
)

// Policy sources: where the server's policy for a (client, stack) comes
// from (GET /v1/clients/{client_id}/policy, "source").
const (
	PolicySourceStack   = "stack"
	PolicySourceClient  = "client"
	PolicySourceDefault = "default"
)

// ComparePolicy compares a file's policy with the policy in effect on the
// server: source is where the server's policy for the policy's client (and
// stack) comes from, "" when the server knows neither; current is that
// policy's effective spec as the server returns it (read only when source
// is set). Both sides are compared as the server would use them, defaults
// filled in. The changes are those from current to the file's policy.
func ComparePolicy(pol Policy, source string, current json.RawMessage) (PolicyAction, []Change, error) {
	key := pol.Metadata.ClientID
	level := PolicySourceClient
	if pol.Metadata.StackID != "" {
		key += "/" + pol.Metadata.StackID
		level = PolicySourceStack
	}
	want, err := json.Marshal(EffectivePolicy(&pol.Spec, nil))
	if err != nil {
		return "", nil, fmt.Errorf("encode policy %s: %w", key, err)
	}
	var from, to any
	if err := json.Unmarshal(want, &to); err != nil {
		return "", nil, fmt.Errorf("decode policy %s: %w", key, err)
	}
	var changes []Change
	if source != "" {
		if err := json.Unmarshal(current, &from); err != nil {
			return "", nil, fmt.Errorf("decode the server's policy of %s: %w", key, err)
		}
		changes = DiffJSON("", from, to)
	}
	switch {
	case source != level:
		return PolicyCreate, changes, nil
	case len(changes) > 0:
		return PolicyChange, changes, nil
	default:
		return PolicyUnchanged, changes, nil
	}
}
