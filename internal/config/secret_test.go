package config

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

func TestExpandSecret(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "B_2": "beta", "EMPTY": ""}[name]
		return v, ok
	}
	tests := []struct {
		ref      string
		want     string
		problems []string
	}{
		{ref: "plain", want: "plain"},
		{ref: "${A}", want: "alpha"},
		{ref: "x${A}y${B_2}z", want: "xalphaybetaz"},
		{ref: "${EMPTY}", want: ""},
		{ref: "$$", want: "$"},
		{ref: "$${A}", want: "${A}"},
		{ref: "$", want: "$"},
		{ref: "a$b", want: "a$b"},
		{ref: "$$$${A}", want: "$${A}"},
		{ref: "${MISSING}", problems: []string{"${MISSING} is not set"}},
		{ref: "${MISSING}-${A}-${ALSO}", problems: []string{"${MISSING} is not set", "${ALSO} is not set"}},
		{ref: "${A", problems: []string{"unterminated ${ (write $$ for a literal $)"}},
		{ref: "${}", problems: []string{`invalid variable name "" in ${...} (want letters, digits and _, not starting with a digit)`}},
		{ref: "${1A}", problems: []string{`invalid variable name "1A" in ${...} (want letters, digits and _, not starting with a digit)`}},
		{ref: "${A-B}", problems: []string{`invalid variable name "A-B" in ${...} (want letters, digits and _, not starting with a digit)`}},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			got, problems := expandSecret(tt.ref, env)
			require.Equal(t, tt.problems, problems)
			if problems == nil {
				require.Equal(t, tt.want, got)
			}
		})
	}
}

func TestSecretJSON(t *testing.T) {
	t.Parallel()
	var s Secret
	require.NoError(t, json.Unmarshal([]byte(`"${TOKEN}"`), &s))
	require.Equal(t, "${TOKEN}", s.Ref)
	require.False(t, s.Resolved())
	require.Empty(t, s.Value())

	var lit Secret
	require.NoError(t, json.Unmarshal([]byte(`"literal"`), &lit))
	require.True(t, lit.Resolved())
	require.Equal(t, "literal", lit.Value())
	require.Error(t, json.Unmarshal([]byte(`42`), &lit))

	var list SecretList
	require.NoError(t, json.Unmarshal([]byte(`"${ONE}"`), &list))
	require.Equal(t, SecretList{NewSecret("${ONE}")}, list)
	require.NoError(t, json.Unmarshal([]byte(`["${ONE}", "${TWO}"]`), &list))
	require.Equal(t, SecretList{NewSecret("${ONE}"), NewSecret("${TWO}")}, list)
	require.Error(t, json.Unmarshal([]byte(`[1]`), &list))
	require.Error(t, json.Unmarshal([]byte(`{}`), &list))

	// Marshal writes references only, even once resolved.
	resolved := NewSecret("${TOKEN}")
	require.Empty(t, resolved.resolve(testEnv))
	require.Equal(t, "tok-secret-value", resolved.Value())
	b, err := json.Marshal(struct {
		S Secret     `json:"s"`
		L SecretList `json:"l"`
	}{resolved, SecretList{resolved}})
	require.NoError(t, err)
	require.Equal(t, `{"s":"${TOKEN}","l":["${TOKEN}"]}`, string(b))
}

func TestSecretYAML(t *testing.T) {
	t.Parallel()
	var v struct {
		S Secret     `yaml:"s"`
		L SecretList `yaml:"l"`
		M SecretList `yaml:"m"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("s: ${A}\nl: ${B}\nm: [\"${C}\", lit]\n"), &v))
	require.Equal(t, "${A}", v.S.Ref)
	require.Equal(t, SecretList{NewSecret("${B}")}, v.L)
	require.Equal(t, SecretList{NewSecret("${C}"), NewSecret("lit")}, v.M)
	require.Error(t, yaml.Unmarshal([]byte("s: {a: b}\n"), &v))
	require.Error(t, yaml.Unmarshal([]byte("l: [{a: b}]\n"), &v))
}

func TestSecretFormatting(t *testing.T) {
	t.Parallel()
	s := NewSecret("${TOKEN}")
	s.resolve(testEnv)
	holder := struct {
		S   Secret
		P   *Secret
		L   SecretList
		Map map[string]Secret
	}{S: s, P: &s, L: SecretList{s}, Map: map[string]Secret{"k": s}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
		for _, v := range []any{s, &s, holder, &holder} {
			out := fmt.Sprintf(format, v)
			require.NotContains(t, out, "tok-secret-value", "%s of %T: %s", format, v, out)
		}
	}
	require.Equal(t, "${TOKEN}", fmt.Sprint(s))
	require.Equal(t, `config.Secret("${TOKEN}")`, fmt.Sprintf("%#v", s))
}

func TestResolveSecrets(t *testing.T) {
	t.Parallel()
	spec := StackSpec{Providers: map[string]ProviderBinding{
		RoleCMS: {
			Name:          "sanity",
			Credentials:   map[string]Secret{"token": NewSecret("${TOKEN}"), "other": NewSecret("${NOPE}")},
			WebhookSecret: SecretList{NewSecret("${TOKEN}"), NewSecret("${OLD}")},
		},
		RoleSSG: {Name: "hugo", Build: &Build{Driver: "hook", URL: NewSecret("${HOOK}")}},
	}}
	before := spec
	err := spec.ResolveSecrets(testEnv)
	var errs *Errors
	require.ErrorAs(t, err, &errs)
	require.Equal(t, Errors{
		{Message: "providers.cms.credentials.other: ${NOPE} is not set"},
		{Message: "providers.cms.webhook_secret[1]: ${OLD} is not set"},
	}, *errs)
	require.Equal(t, "tok-secret-value", spec.Providers[RoleCMS].Credentials["token"].Value())
	require.Equal(t, "https://hooks.example/build-secret-value", spec.Providers[RoleSSG].Build.URL.Value())
	require.False(t, before.Providers[RoleSSG].Build.URL.Resolved(), "the copy taken before is untouched")

	ch := ChannelSpec{Type: "email", Addresses: []string{"a@b.example"}, SMTP: &SMTP{Host: "smtp.example", Password: NewSecret("${TOKEN}")}}
	require.NoError(t, ch.ResolveSecrets(testEnv))
	require.Equal(t, "tok-secret-value", ch.SMTP.Password.Value())
	ch = ChannelSpec{Type: "slack", WebhookURL: NewSecret("${SLACK}")}
	require.EqualError(t, ch.ResolveSecrets(testEnv), "webhook_url: ${SLACK} is not set")

	pol := PolicySpec{Notifications: Notifications{Channels: []ChannelSpec{{Type: "webhook", URL: "https://x.example/", Secret: NewSecret("${TOKEN}")}}}}
	require.NoError(t, pol.ResolveSecrets(testEnv))
	require.Equal(t, "tok-secret-value", pol.Notifications.Channels[0].Secret.Value())
}
