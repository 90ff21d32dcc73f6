package promote

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

func TestRelease(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, source, target string
		want                 string // canonical JSON of the release
		changes              []string
	}{
		{
			name:    "the source's composition, the target's overridden fields",
			source:  `{"overrides":["resources.site.url"],"resources":{"site":{"probe":"http","url":"https://staging.example/","expect_status":200}},"content_types":["page","product"]}`,
			target:  `{"overrides":["resources.site.url"],"resources":{"site":{"probe":"http","url":"https://example.com/"}},"content_types":["product"]}`,
			want:    `{"content_types":["page","product"],"overrides":["resources.site.url"],"resources":{"site":{"expect_status":200,"probe":"http","url":"https://example.com/"}}}`,
			changes: []string{"~ content_types", "+ resources.site.expect_status"},
		},
		{
			name:    "an override only the target lists counts, and the target keeps its app",
			source:  `{"app":"shop","providers":{"ecommerce":{"name":"shopify","settings":{"shop":"s.myshopify.com","api_version":"2025-01"}}}}`,
			target:  `{"app":"store","overrides":["providers.ecommerce.settings.shop"],"providers":{"ecommerce":{"name":"shopify","settings":{"shop":"p.myshopify.com","api_version":"2024-07"}}}}`,
			want:    `{"app":"store","overrides":["providers.ecommerce.settings.shop"],"providers":{"ecommerce":{"name":"shopify","settings":{"api_version":"2025-01","shop":"p.myshopify.com"}}}}`,
			changes: []string{"~ providers.ecommerce.settings.api_version"},
		},
		{
			name:    "an overridden field the target lacks is absent",
			source:  `{"overrides":["resources.preview"],"resources":{"preview":{"probe":"dns","name":"preview.example"},"site":{"probe":"dns","name":"example.com"}}}`,
			target:  `{}`,
			want:    `{"resources":{"site":{"name":"example.com","probe":"dns"}}}`,
			changes: []string{"+ resources"},
		},
		{
			name:   "the same: no change",
			source: `{"content_types":["page"]}`,
			target: `{"content_types":["page"]}`,
			want:   `{"content_types":["page"]}`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, changes, err := Release(json.RawMessage(tt.source), json.RawMessage(tt.target))
			require.NoError(t, err)
			doc, _, err := config.Hash(spec)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(doc))
			var got []string
			for _, c := range changes {
				got = append(got, c.Op+" "+c.Path)
			}
			require.Equal(t, tt.changes, got)
		})
	}
	_, _, err := Release(json.RawMessage(`[`), json.RawMessage(`{}`))
	require.ErrorContains(t, err, "source document")
}

func TestCheckSoak(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	stage := config.Stage{Environment: "staging", Soak: config.Duration(2 * time.Hour)}
	for _, tt := range []struct {
		name      string
		since     time.Time
		healthy   bool
		remaining time.Duration // 0: soaked
		err       string
	}{
		{name: "soaked", since: now.Add(-3 * time.Hour), healthy: true},
		{name: "exactly soaked", since: now.Add(-2 * time.Hour), healthy: true},
		{name: "not yet", since: now.Add(-30 * time.Minute), healthy: true, remaining: 90 * time.Minute,
			err: "the release in staging has soaked 30m0s of its required 2h0m0s: 1h30m0s remaining"},
		{name: "unhealthy", since: now.Add(-3 * time.Hour), err: "the release in staging is not verified healthy: a promotion needs a healthy source"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckSoak(stage, tt.since, tt.healthy, now)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.err)
			var se *SoakError
			require.Equal(t, tt.remaining > 0, errors.As(err, &se))
			if se != nil {
				require.Equal(t, tt.remaining, se.Remaining)
			}
		})
	}
	require.NoError(t, CheckSoak(config.Stage{Environment: "dev"}, now, true, now), "no soak declared")
}
