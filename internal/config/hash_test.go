package config

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const hashBlock = `
# a stack, block style
apiVersion: blackwell.io/v1
kind: Stack
metadata:
  client_id: acme
  stack_id: web
spec:
  providers:
    cms:
      name: sanity
      settings:
        project_id: abc123
        dataset: production
      credentials:
        token: ${TOKEN}
      webhook_secret: ${TOKEN}
    ssg:
      name: nextjs
      build:
        driver: hook
        url: ${HOOK}
        timeout: 5m
  integrations:
    content:
      provider: cms
      topics:
        - publish
        - delete
  resources:
    site:
      probe: http
      url: https://www.acme.example/
      expect_status: 200
      timeout: 5s
  content_types: [post, page]
`

// hashFlow is hashBlock reordered, in flow style, with other comments,
// quoting and equal durations written differently.
const hashFlow = `
kind: Stack   # kind first
spec:
  content_types: ["post", 'page']
  resources: {site: {timeout: 5000ms, expect_status: 200, url: "https://www.acme.example/", probe: http}}
  integrations: {content: {topics: [publish, delete], provider: cms}}
  providers:
    ssg: {build: {timeout: 300s, url: "${HOOK}", driver: hook}, name: nextjs}
    cms:
      webhook_secret: ["${TOKEN}"]
      credentials: {token: "${TOKEN}"}
      settings: {dataset: production, project_id: "abc123"}
      name: sanity
metadata: {stack_id: web, client_id: acme}
apiVersion: blackwell.io/v1
`

func hashOf(t *testing.T, src string, getenv func(string) (string, bool)) (string, string) {
	t.Helper()
	cfg, err := Parse("hash.yaml", []byte(yml(src)), getenv)
	require.NoError(t, err)
	require.Len(t, cfg.Stacks, 1)
	canonical, sum, err := Hash(cfg.Stacks[0].Spec)
	require.NoError(t, err)
	return string(canonical), sum
}

func TestHashCanonical(t *testing.T) {
	t.Parallel()
	canonical, sum := hashOf(t, hashBlock, testEnv)
	require.Equal(t, `{"content_types":["post","page"],`+
		`"integrations":{"content":{"provider":"cms","topics":["publish","delete"]}},`+
		`"providers":{"cms":{"credentials":{"token":"${TOKEN}"},"name":"sanity","settings":{"dataset":"production","project_id":"abc123"},"webhook_secret":["${TOKEN}"]},`+
		`"ssg":{"build":{"driver":"hook","timeout":"5m0s","url":"${HOOK}"},"name":"nextjs"}},`+
		`"resources":{"site":{"expect_status":200,"probe":"http","timeout":"5s","url":"https://www.acme.example/"}}}`, canonical)
	h := sha256.Sum256([]byte(canonical))
	require.Equal(t, hex.EncodeToString(h[:]), sum)
	require.Len(t, sum, 64)
}

func TestHashStable(t *testing.T) {
	t.Parallel()
	_, want := hashOf(t, hashBlock, testEnv)

	otherEnv := func(name string) (string, bool) { return "https://other.example/" + name, true }
	tests := []struct {
		name   string
		src    string
		getenv func(string) (string, bool)
	}{
		{"same text", hashBlock, testEnv},
		{"reordered, flow style, comments, other spelling", hashFlow, testEnv},
		{"other secret values", hashBlock, otherEnv},
		{"unresolved secrets", hashBlock, nil},
		{"empty optional fields", strings.NewReplacer(
			"      expect_status: 200\n", "      expect_status: 200\n      body_match: \"\"\n      max_latency: 0\n",
			"      provider: cms\n", "      provider: cms\n      filter: ''\n",
		).Replace(hashBlock), testEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got := hashOf(t, tt.src, tt.getenv)
			require.Equal(t, want, got)
		})
	}
}

func TestHashEmptyValuesAreLeftOut(t *testing.T) {
	t.Parallel()
	a := StackSpec{Resources: map[string]Resource{"site": {Probe: ProbeHTTP, URL: "https://a.example/"}}}
	b := StackSpec{
		Providers:    map[string]ProviderBinding{},
		Integrations: nil,
		Resources:    map[string]Resource{"site": {Probe: ProbeHTTP, URL: "https://a.example/", Timeout: 0}},
		ContentTypes: []string{},
	}
	ca, sa, err := Hash(a)
	require.NoError(t, err)
	cb, sb, err := Hash(b)
	require.NoError(t, err)
	require.Equal(t, string(ca), string(cb))
	require.Equal(t, sa, sb)
	require.Equal(t, `{"resources":{"site":{"probe":"http","url":"https://a.example/"}}}`, string(ca))

	_, empty, err := Hash(StackSpec{})
	require.NoError(t, err)
	h := sha256.Sum256([]byte("{}"))
	require.Equal(t, hex.EncodeToString(h[:]), empty)
}

func TestHashChangesWithTheSpec(t *testing.T) {
	t.Parallel()
	_, base := hashOf(t, hashBlock, testEnv)
	changes := map[string][2]string{
		"provider name":   {"name: sanity", "name: contentful"},
		"setting":         {"dataset: production", "dataset: staging"},
		"secret ref":      {"token: ${TOKEN}", "token: ${OTHER_TOKEN}"},
		"build timeout":   {"timeout: 5m", "timeout: 6m"},
		"topic order":     {"- publish\n        - delete", "- delete\n        - publish"},
		"expect status":   {"expect_status: 200", "expect_status: 204"},
		"content types":   {"[post, page]", "[post]"},
		"integration key": {"    content:\n      provider: cms", "    entries:\n      provider: cms"},
	}
	env := func(name string) (string, bool) {
		if name == "OTHER_TOKEN" {
			return "x", true
		}
		return testEnv(name)
	}
	seen := map[string]string{base: "base"}
	for name, c := range changes {
		src := strings.Replace(hashBlock, c[0], c[1], 1)
		require.NotEqual(t, hashBlock, src, name)
		_, sum := hashOf(t, src, env)
		prev, dup := seen[sum]
		require.False(t, dup, "%s hashes like %s", name, prev)
		seen[sum] = name
	}
}
