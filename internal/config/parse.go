package config

import "errors"

// Parse parses and validates a multi-document blackwell.yaml. filename is
// used in error positions; getenv resolves ${VAR} references in secrets.
// The error, when not nil, is an *Errors listing every problem found.
func Parse(filename string, data []byte, getenv func(string) (string, bool)) (*Config, error) {
	return nil, errors.New("config.Parse: not implemented yet")
}

// Load reads and parses a file; see Parse.
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	return nil, errors.New("config.Load: not implemented yet")
}

// Hash returns the canonical JSON of a stack spec and its SHA-256 in hex.
// Secrets appear as their references.
func Hash(spec StackSpec) (canonical []byte, sum string, err error) {
	return nil, "", errors.New("config.Hash: not implemented yet")
}

// DecodePolicyJSON decodes and validates a ReconciliationPolicy spec sent as
// JSON (PUT /v1/clients/{client_id}/policy). Unknown fields are errors.
func DecodePolicyJSON(data []byte) (*PolicySpec, error) {
	return nil, errors.New("config.DecodePolicyJSON: not implemented yet")
}

// DefaultPolicy is the policy of a stack that has none.
func DefaultPolicy() PolicySpec { return PolicySpec{} }

// EffectivePolicy returns the policy for one stack: the stack's own policy
// if there is one, else the client's, else DefaultPolicy; zero fields of the
// chosen policy are filled from DefaultPolicy.
func EffectivePolicy(stackPolicy, clientPolicy *PolicySpec) PolicySpec { return DefaultPolicy() }
