package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// String is the reference, never the value.
func (s Secret) String() string { return s.Ref }

// GoString is the reference, never the value.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.Ref) }

// Format prints the reference for every verb, so that %v, %+v and %#v of a
// struct that holds a Secret never show its value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.Ref)
}

// Resolved reports whether Value holds the resolved secret: true for a
// literal (a Secret without ${VAR} references) and after a successful
// resolution.
func (s Secret) Resolved() bool { return s.value != nil }

// NewSecret returns a secret with the given reference, resolved already when
// it holds no ${VAR} reference. NewSecret("") is the zero Secret (not set).
func NewSecret(ref string) Secret {
	if ref == "" {
		return Secret{}
	}
	s := Secret{Ref: ref}
	if !strings.Contains(ref, "${") {
		v, _ := expandSecret(ref, nil)
		s.value = &secretValue{s: v}
	}
	return s
}

// resolve replaces the value by the reference with its ${VAR}s looked up
// with getenv. The problems name variables, never values.
func (s *Secret) resolve(getenv func(string) (string, bool)) []string {
	v, problems := expandSecret(s.Ref, getenv)
	if len(problems) > 0 {
		s.value = nil
		return problems
	}
	s.value = &secretValue{s: v}
	return nil
}

// UnmarshalJSON reads the reference from a JSON string.
func (s *Secret) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = Secret{}
		return nil
	}
	var ref string
	if err := json.Unmarshal(b, &ref); err != nil {
		return errors.New("secret must be a string")
	}
	*s = NewSecret(ref)
	return nil
}

// MarshalYAML writes the reference, never the value.
func (s Secret) MarshalYAML() (any, error) { return s.Ref, nil }

// UnmarshalYAML reads the reference from a YAML string.
func (s *Secret) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return errors.New("secret must be a string")
	}
	switch x := v.(type) {
	case nil:
		*s = Secret{}
	case string:
		*s = NewSecret(x)
	default:
		return errors.New("secret must be a string")
	}
	return nil
}

// UnmarshalJSON reads a string or an array of strings.
func (l *SecretList) UnmarshalJSON(b []byte) error {
	trimmed := strings.TrimSpace(string(b))
	if trimmed == "null" {
		*l = nil
		return nil
	}
	if strings.HasPrefix(trimmed, "[") {
		var refs []string
		if err := json.Unmarshal(b, &refs); err != nil {
			return errors.New("secret list must be a string or an array of strings")
		}
		*l = secretsFrom(refs)
		return nil
	}
	var ref string
	if err := json.Unmarshal(b, &ref); err != nil {
		return errors.New("secret list must be a string or an array of strings")
	}
	*l = SecretList{NewSecret(ref)}
	return nil
}

// UnmarshalYAML reads a string or a list of strings.
func (l *SecretList) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return errors.New("secret list must be a string or a list of strings")
	}
	switch x := v.(type) {
	case nil:
		*l = nil
	case string:
		*l = SecretList{NewSecret(x)}
	case []any:
		refs := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return errors.New("secret list must be a string or a list of strings")
			}
			refs[i] = s
		}
		*l = secretsFrom(refs)
	default:
		return errors.New("secret list must be a string or a list of strings")
	}
	return nil
}

func secretsFrom(refs []string) SecretList {
	l := make(SecretList, len(refs))
	for i, r := range refs {
		l[i] = NewSecret(r)
	}
	return l
}

// Values returns the resolved values.
func (l SecretList) Values() []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = s.Value()
	}
	return out
}

// expandSecret resolves ${NAME} references in ref with getenv and turns $$
// into $. A $ followed by anything else is kept. With a nil getenv only the
// syntax is checked and references expand to nothing. Problems name the
// variable, never a value.
func expandSecret(ref string, getenv func(string) (string, bool)) (string, []string) {
	var b strings.Builder
	var problems []string
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if c != '$' || i+1 >= len(ref) {
			b.WriteByte(c)
			continue
		}
		switch ref[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(ref[i+2:], '}')
			if end < 0 {
				problems = append(problems, "unterminated ${ (write $$ for a literal $)")
				return "", problems
			}
			name := ref[i+2 : i+2+end]
			i += 2 + end
			if !validEnvName(name) {
				problems = append(problems, fmt.Sprintf("invalid variable name %q in ${...} (want letters, digits and _, not starting with a digit)", name))
				continue
			}
			if getenv == nil {
				continue
			}
			v, ok := getenv(name)
			if !ok {
				problems = append(problems, fmt.Sprintf("${%s} is not set", name))
				continue
			}
			b.WriteString(v)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), problems
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// secretReport receives a problem at a path relative to the resolved spec.
type secretReport func(path, msg string)

// resolveOne resolves s in place (nil getenv: syntax check only) and reports
// each problem at path.
func resolveOne(s *Secret, path string, getenv func(string) (string, bool), report secretReport) {
	if s.Ref == "" {
		return
	}
	if getenv == nil {
		if _, problems := expandSecret(s.Ref, nil); len(problems) > 0 {
			for _, p := range problems {
				report(path, p)
			}
		}
		return
	}
	for _, p := range s.resolve(getenv) {
		report(path, p)
	}
}

// ResolveSecrets resolves every ${VAR} reference of the spec's secrets with
// getenv (os.LookupEnv, or a secret store). Use it on a spec read back from
// the store as JSON, which holds references only. The spec gets new maps, so
// copies of it made before are left as they were. The error is an *Errors
// naming each unset variable and the field that refers to it.
func (s *StackSpec) ResolveSecrets(getenv func(string) (string, bool)) error {
	var errs Errors
	s.resolveSecrets(getenv, func(path, msg string) {
		errs.add(Error{Message: path + ": " + msg})
	})
	return errs.err()
}

func (s *StackSpec) resolveSecrets(getenv func(string) (string, bool), report secretReport) {
	if s.Providers == nil {
		return
	}
	providers := make(map[string]ProviderBinding, len(s.Providers))
	for _, role := range sortedKeys(s.Providers) {
		b := s.Providers[role]
		base := "providers." + role
		if b.Credentials != nil {
			creds := make(map[string]Secret, len(b.Credentials))
			for _, k := range sortedKeys(b.Credentials) {
				v := b.Credentials[k]
				resolveOne(&v, base+".credentials."+k, getenv, report)
				creds[k] = v
			}
			b.Credentials = creds
		}
		if b.WebhookSecret != nil {
			list := make(SecretList, len(b.WebhookSecret))
			copy(list, b.WebhookSecret)
			for i := range list {
				p := base + ".webhook_secret"
				if len(list) > 1 {
					p += fmt.Sprintf("[%d]", i)
				}
				resolveOne(&list[i], p, getenv, report)
			}
			b.WebhookSecret = list
		}
		if b.Build != nil {
			build := *b.Build
			resolveOne(&build.URL, base+".build.url", getenv, report)
			if build.Env != nil {
				env := make(map[string]Secret, len(build.Env))
				for _, k := range sortedKeys(build.Env) {
					v := build.Env[k]
					resolveOne(&v, base+".build.env."+k, getenv, report)
					env[k] = v
				}
				build.Env = env
			}
			if build.Deploy != nil {
				deploy := *build.Deploy
				resolveOne(&deploy.Token, base+".build.deploy.token", getenv, report)
				build.Deploy = &deploy
			}
			b.Build = &build
		}
		providers[role] = b
	}
	s.Providers = providers
}

// ResolveSecrets resolves the channel's secrets (webhook_url, routing_key,
// secret, smtp.password, and an sns channel's credentials) with getenv; see StackSpec.ResolveSecrets.
func (c *ChannelSpec) ResolveSecrets(getenv func(string) (string, bool)) error {
	var errs Errors
	c.resolveSecrets(getenv, func(path, msg string) {
		errs.add(Error{Message: path + ": " + msg})
	})
	return errs.err()
}

func (c *ChannelSpec) resolveSecrets(getenv func(string) (string, bool), report secretReport) {
	resolveOne(&c.WebhookURL, "webhook_url", getenv, report)
	resolveOne(&c.RoutingKey, "routing_key", getenv, report)
	resolveOne(&c.Secret, "secret", getenv, report)
	resolveOne(&c.AccessKeyID, "access_key_id", getenv, report)
	resolveOne(&c.SecretAccessKey, "secret_access_key", getenv, report)
	resolveOne(&c.SessionToken, "session_token", getenv, report)
	if c.SMTP != nil {
		smtp := *c.SMTP
		resolveOne(&smtp.Password, "smtp.password", getenv, report)
		c.SMTP = &smtp
	}
}

// ResolveSecrets resolves the secrets of the policy's inline channels; see
// StackSpec.ResolveSecrets.
func (p *PolicySpec) ResolveSecrets(getenv func(string) (string, bool)) error {
	var errs Errors
	p.resolveSecrets(getenv, func(path, msg string) {
		errs.add(Error{Message: path + ": " + msg})
	})
	return errs.err()
}

func (p *PolicySpec) resolveSecrets(getenv func(string) (string, bool), report secretReport) {
	if p.Notifications.Channels == nil {
		return
	}
	chans := make([]ChannelSpec, len(p.Notifications.Channels))
	copy(chans, p.Notifications.Channels)
	for i := range chans {
		prefix := fmt.Sprintf("notifications.channels[%d].", i)
		chans[i].resolveSecrets(getenv, func(path, msg string) { report(prefix+path, msg) })
	}
	p.Notifications.Channels = chans
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
