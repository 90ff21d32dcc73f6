package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Rules are the limits a document is validated under beyond its syntax:
// what its author may declare. The zero Rules are the operator's own config
// file without serve --allow-command-builds. The server, `blackwell
// validate` and the API build Rules from the same flags, so that they agree
// (../shared/DESIGN.md; docs/SECURITY.md, "Tenants").
type Rules struct {
	// CommandBuilds allows build driver command in the operator's own
	// config file (serve --allow-command-builds). A command runs a program
	// on the server, so a document from the API never introduces or changes
	// one, whatever this says (see Stored).
	CommandBuilds bool
	// Stored, when set, marks a document that arrived through the API, and
	// returns the stored desired spec of a stack (ok false: none), with its
	// secrets resolved where they can be. A command build of an API
	// document must be exactly the stored one of the same stack and role.
	Stored func(clientID, stackID string) (spec StackSpec, ok bool)
	// Tenant, when set, confines the document to one client: it came from
	// a token scoped to that client.
	Tenant *Tenant
	// CredentialHosts are hosts the operator allows credentials to be sent
	// to (serve --credential-hosts): over plain http, and, for a tenant, as
	// a new destination.
	CredentialHosts HostPatterns
	// Organization is the OrganizationPolicy in force (the stored one) for
	// a document that declares none: its locks are checked against the
	// document's policies.
	Organization *OrganizationSpec
}

// Tenant is what a client-scoped author may reference and where its
// credentials may go.
type Tenant struct {
	ClientID string
	// SecretPrefix starts the names of the variables that belong to the
	// client (ClientSecretPrefix); "" gives the client no variables of its
	// own (it may then only keep the references its stored state holds).
	SecretPrefix string
	// Destinations returns the origins (scheme://host[:port]) that a
	// binding's credentials are sent to, computed by its provider driver
	// and build driver; nil or empty when they go nowhere known. The spec's
	// secrets are resolved where they can be.
	Destinations func(clientID, stackID, role string, spec StackSpec) []string
}

// DefaultClientSecretPrefix is the default of serve --client-secret-prefix.
// The double underscore ends the client's part of a name: with a single
// one, client "acme" would own BLACKWELL_ACME_CORP_TOKEN of client
// "acme-corp".
const DefaultClientSecretPrefix = "BLACKWELL_{CLIENT}__"

// ClientSecretPrefix returns the variable prefix of a client from a
// template holding {CLIENT} once: the client id upper-cased, each run of
// other characters than letters and digits written as one "_", without a
// leading or trailing "_". Encoded so, and with a "__" after {CLIENT}, no
// client's prefix starts another's; ids that differ only in punctuation
// (acme-corp, acme.corp) share one.
func ClientSecretPrefix(template, clientID string) (string, error) {
	if strings.Count(template, "{CLIENT}") != 1 {
		return "", fmt.Errorf("client secret prefix %q must hold {CLIENT} once", template)
	}
	var b strings.Builder
	gap := false
	for _, r := range clientID {
		switch {
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
			fallthrough
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(r)
		default:
			gap = true
		}
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("client id %q has no letters or digits", clientID)
	}
	p := strings.Replace(template, "{CLIENT}", b.String(), 1)
	if !validEnvName(p) {
		return "", fmt.Errorf("client secret prefix %q does not make a variable name (want letters, digits and _, not starting with a digit)", template)
	}
	return p, nil
}

// HostPatterns are host names ("api.example.com") and wildcards
// ("*.example.com": any name below example.com, not example.com itself).
type HostPatterns []string

// ParseHostPatterns reads a comma-separated list of host patterns (the
// value of serve --credential-hosts). Names are compared without case;
// ports and schemes are not part of a pattern.
func ParseHostPatterns(s string) (HostPatterns, error) {
	var out HostPatterns
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		name := strings.TrimPrefix(f, "*.")
		if strings.Contains(name, "*") || !validHostname(name) || !strings.ContainsAny(name, "abcdefghijklmnopqrstuvwxyz0123456789") {
			return nil, fmt.Errorf("credential host %q is not a host name or *.domain", f)
		}
		out = append(out, strings.TrimSuffix(f, "."))
	}
	return out, nil
}

// Match reports whether a host (no port) is one of the patterns.
func (h HostPatterns) Match(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	for _, p := range h {
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+rest) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// isLoopbackHost reports whether a host (no port) is this machine.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// credentialURLProblem says why a URL that receives credentials is refused
// ("" when it is not): it must be https, unless its host is this machine or
// one the operator allows.
func (r Rules) credentialURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "" // the syntax checks report it
	}
	if u.Scheme == "https" || isLoopbackHost(u.Hostname()) || r.CredentialHosts.Match(u.Hostname()) {
		return ""
	}
	return "must be an https URL: credentials are sent there (plain http is allowed only to this machine or to a host of serve --credential-hosts)"
}

// secretField is one secret of a stack spec and its path in the spec.
type secretField struct {
	path   string
	secret Secret
}

// stackSecrets lists the secrets of a spec's bindings, by path relative to
// the spec, in a stable order.
func stackSecrets(s StackSpec) []secretField {
	var out []secretField
	for _, role := range sortedKeys(s.Providers) {
		b := s.Providers[role]
		base := "providers." + role
		for _, k := range sortedKeys(b.Credentials) {
			out = append(out, secretField{base + ".credentials." + k, b.Credentials[k]})
		}
		for i, sec := range b.WebhookSecret {
			p := base + ".webhook_secret"
			if len(b.WebhookSecret) > 1 {
				p += fmt.Sprintf("[%d]", i)
			}
			out = append(out, secretField{p, sec})
		}
		if b.Build != nil {
			out = append(out, secretField{base + ".build.url", b.Build.URL})
			for _, k := range sortedKeys(b.Build.Env) {
				out = append(out, secretField{base + ".build.env." + k, b.Build.Env[k]})
			}
			if b.Build.Deploy != nil {
				out = append(out, secretField{base + ".build.deploy.token", b.Build.Deploy.Token})
			}
		}
	}
	return out
}

// Names returns the variables the secret refers to (${NAME}), in order,
// without duplicates.
func (s Secret) Names() []string {
	var out []string
	ref := s.Ref
	for i := 0; i < len(ref); i++ {
		if ref[i] != '$' || i+1 >= len(ref) {
			continue
		}
		switch ref[i+1] {
		case '$':
			i++
		case '{':
			end := strings.IndexByte(ref[i+2:], '}')
			if end < 0 {
				return out
			}
			name := ref[i+2 : i+2+end]
			i += 2 + end
			if validEnvName(name) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// isLiteralSecretPath reports the secrets that must be ${VAR} references: a
// literal would be stored and shown to every viewer of the stack (checkReference).
func isLiteralSecretPath(path string) bool {
	return strings.Contains(path, ".credentials.") || strings.Contains(path, ".webhook_secret") ||
		strings.HasSuffix(path, ".build.url") || strings.HasSuffix(path, ".build.deploy.token")
}

// checkReference refuses a literal secret: it must hold a ${VAR}
// reference. A literal would be stored with the desired state or the
// policy, shown to their readers and kept in every version. (A value with
// a malformed reference is reported by the secret's own checks.)
func (r reporter) checkReference(path string, s Secret) {
	if s.Ref == "" || len(s.Names()) > 0 {
		return
	}
	if _, problems := expandSecret(s.Ref, nil); len(problems) == 0 {
		r.value(path, "must be a ${VAR} reference, not the secret itself (a literal secret would be stored and shown to every reader of the config); set the value in the server's environment and write ${NAME}")
	}
}

// checkRules applies the rules to a Stack document that passed decoding.
func (r reporter) checkRules(s *Stack, rules Rules) {
	spec := &s.Spec
	// Literal secrets: refused (see isLiteralSecretPath).
	for _, f := range stackSecrets(*spec) {
		if isLiteralSecretPath(f.path) {
			r.checkReference("spec."+f.path, f.secret)
		}
	}
	// URLs that receive credentials: https, unless loopback or allowed.
	for _, role := range sortedKeys(spec.Providers) {
		b := spec.Providers[role]
		p := "spec.providers." + role
		for _, k := range []string{"api_base", "integration_api"} {
			if v, ok := b.Settings[k]; ok && isHTTPURL(v) {
				if msg := rules.credentialURLProblem(v); msg != "" {
					r.value(p+".settings."+k, "%s", msg)
				}
			}
		}
		if b.Build == nil {
			continue
		}
		if b.Build.URL.Resolved() && isHTTPURL(b.Build.URL.Value()) {
			if msg := rules.credentialURLProblem(b.Build.URL.Value()); msg != "" {
				r.value(p+".build.url", "%s", msg)
			}
		}
		if b.Build.Endpoint != "" && isHTTPURL(b.Build.Endpoint) {
			if msg := rules.credentialURLProblem(b.Build.Endpoint); msg != "" {
				r.value(p+".build.endpoint", "%s", msg)
			}
		}
	}
	// The stored spec is read only when a rule needs it: a posted config
	// of many stacks without command builds costs no store reads.
	var stored StackSpec
	hasStored := false
	if rules.Stored != nil && s.Metadata.ClientID != "" && s.Metadata.StackID != "" && (rules.Tenant != nil || hasCommandBuild(s.Spec)) {
		stored, hasStored = rules.Stored(s.Metadata.ClientID, s.Metadata.StackID)
	}
	r.checkCommandBuilds(s, rules, stored, hasStored)
	if rules.Tenant != nil {
		r.checkTenant(s, rules, stored, hasStored)
	}
}

// checkCommandBuilds: a command build comes only from the operator's file
// with CommandBuilds, or through the API unchanged from the stored one.
func (r reporter) checkCommandBuilds(s *Stack, rules Rules, stored StackSpec, hasStored bool) {
	for _, role := range sortedKeys(s.Spec.Providers) {
		b := s.Spec.Providers[role].Build
		if b == nil || b.Driver != "command" {
			continue
		}
		path := "spec.providers." + role + ".build.driver"
		if rules.Stored == nil {
			if !rules.CommandBuilds {
				r.value(path, "build driver command runs a program on the server and is disabled: allow it with serve --allow-command-builds (BLACKWELL_ALLOW_COMMAND_BUILDS), for the server's own config file only")
			}
			continue
		}
		var old *Build
		if hasStored {
			old = stored.Providers[role].Build
		}
		if old == nil || !sameBuild(*old, *b) {
			r.value(path, "a command build cannot be set or changed through the API (it runs a program on the server): declare it in the server's config file, applied at start and on SIGHUP with serve --allow-command-builds")
		}
	}
}

func hasCommandBuild(s StackSpec) bool {
	for _, b := range s.Providers {
		if b.Build != nil && b.Build.Driver == "command" {
			return true
		}
	}
	return false
}

// sameBuild compares two builds by their JSON (references, never values).
func sameBuild(a, b Build) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// checkTenant confines a scoped author's stack to its client: its secret
// references and the destinations of its credentials.
func (r reporter) checkTenant(s *Stack, rules Rules, stored StackSpec, hasStored bool) {
	t := rules.Tenant
	if s.Metadata.ClientID != t.ClientID {
		r.value("metadata.client_id", "a token scoped to client %s may only declare that client's stacks", t.ClientID)
		return
	}
	storedRefs := map[string][]string{}
	if hasStored {
		for _, f := range stackSecrets(stored) {
			storedRefs[f.path] = f.secret.Names()
		}
	}
	for _, f := range stackSecrets(s.Spec) {
		for _, name := range f.secret.Names() {
			if t.SecretPrefix != "" && strings.HasPrefix(name, t.SecretPrefix) && len(name) > len(t.SecretPrefix) {
				continue
			}
			if slices.Contains(storedRefs[f.path], name) {
				continue
			}
			mine := "it has no variables of its own"
			if t.SecretPrefix != "" {
				mine = "its own are named " + t.SecretPrefix + "*"
			}
			r.value("spec."+f.path, "${%s} is not a variable of client %s (%s) and the stored desired state does not refer to it here", name, t.ClientID, mine)
		}
	}
	if t.Destinations == nil {
		return
	}
	for _, role := range sortedKeys(s.Spec.Providers) {
		var was []string
		if _, ok := stored.Providers[role]; ok && hasStored {
			was = t.Destinations(s.Metadata.ClientID, s.Metadata.StackID, role, stored)
		}
		for _, d := range t.Destinations(s.Metadata.ClientID, s.Metadata.StackID, role, s.Spec) {
			if d == "" || slices.Contains(was, d) {
				continue
			}
			if u, err := url.Parse(d); err == nil && rules.CredentialHosts.Match(u.Hostname()) {
				continue
			}
			where := "the stored desired state sends them nowhere"
			if len(was) > 0 {
				where = "the stored desired state sends them to " + strings.Join(was, ", ")
			}
			r.value("spec.providers."+role, "a token scoped to a client cannot send this binding's credentials to a new destination (%s; %s): the operator may allow the host with serve --credential-hosts", d, where)
		}
	}
}
