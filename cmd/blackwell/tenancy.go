package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/blackwellio/blackwell/internal/config"
)

// tenancyFlags are the operator's choices of what documents may declare
// (config.Rules; docs/SECURITY.md, "Tenants"): serve, validate and
// reconcile --once read the same ones, so that they agree.
type tenancyFlags struct {
	allowCommandBuilds bool
	credentialHosts    string
	clientSecretPrefix string
}

// register adds the flags; defaults come from BLACKWELL_<FLAG> (serve
// binds them again with bindEnv). Only serve takes the prefix: it applies
// to API documents.
func (t *tenancyFlags) register(f *pflag.FlagSet, serve bool) {
	allow, _ := strconv.ParseBool(envOr("BLACKWELL_ALLOW_COMMAND_BUILDS", "false"))
	f.BoolVar(&t.allowCommandBuilds, "allow-command-builds", allow,
		"allow build driver command (it runs a program on this machine) in the config file; never through the API")
	f.StringVar(&t.credentialHosts, "credential-hosts", envOr("BLACKWELL_CREDENTIAL_HOSTS", ""),
		"hosts (host or *.domain, comma-separated) credentials may be sent to over plain http, or that a client-scoped token may point a binding at")
	if serve {
		f.StringVar(&t.clientSecretPrefix, "client-secret-prefix", config.DefaultClientSecretPrefix,
			"names of the variables a client-scoped token may refer to, {CLIENT} being its client id upper-cased (\"\": none)")
	}
}

// fileRules are the rules of the operator's own config file.
func (t tenancyFlags) fileRules() (config.Rules, error) {
	hosts, err := config.ParseHostPatterns(t.credentialHosts)
	if err != nil {
		return config.Rules{}, usageError{fmt.Errorf("--credential-hosts: %w", err)}
	}
	if t.clientSecretPrefix != "" {
		if _, err := config.ClientSecretPrefix(t.clientSecretPrefix, "client"); err != nil {
			return config.Rules{}, usageError{fmt.Errorf("--client-secret-prefix: %w", err)}
		}
	}
	return config.Rules{CommandBuilds: t.allowCommandBuilds, CredentialHosts: hosts}, nil
}
