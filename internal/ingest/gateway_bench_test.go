package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// nullCommit is a store whose IngestEvents commits nothing and reports
// every event new, so a benchmark measures the gateway, not the store.
type nullCommit struct{ store.Store }

func (nullCommit) IngestEvents(_ context.Context, in []store.IngestEvent) ([]bool, error) {
	out := make([]bool, len(in))
	for i := range out {
		out[i] = true
	}
	return out, nil
}

// BenchmarkServeWebhook measures the gateway's own work for one delivery:
// reading the body, the slot, the bindings (cached), the signature,
// normalisation and payload minimisation, the receipt; the commit is
// nullCommit's and the trigger a no-op.
//
//	go test -run '^$' -bench ServeWebhook -benchmem ./internal/ingest
func BenchmarkServeWebhook(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "blackwell.db"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.DiscardHandler)
	gw := ingest.New(ingest.Options{Store: nullCommit{st}, Logger: log, TriggerInterval: -1,
		Getenv: func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok }})
	svc := state.New(st, state.Options{Logger: log, OnChange: gw.Invalidate})
	cfg, err := config.Parse("blackwell.yaml", []byte(testConfig), nil)
	require.NoError(b, err)
	_, err = svc.Apply(ctx, cfg, "bench")
	require.NoError(b, err)

	now := time.Now()
	shop, shopBody := shopifyProduct("shop-new-secret", "bench", 1, now)
	genBody := []byte(`{"event_type":"content.updated","content_id":"page-1","content_type":"page","timestamp":"` + now.UTC().Format(time.RFC3339) + `"}`)
	gen, err := stdwebhook.Header(testEnv["WHSEC"], "msg_bench", now, genBody)
	require.NoError(b, err)
	for _, c := range []struct {
		provider string
		h        http.Header
		body     []byte
	}{{shopify.Name, shop, shopBody}, {"generic", gen, genBody}} {
		b.Run(c.provider, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/v1/webhooks/"+c.provider+"/acme", bytes.NewReader(c.body))
				r.Header = c.h
				w := httptest.NewRecorder()
				if err := gw.ServeWebhook(w, r, c.provider, "acme", ""); err != nil || w.Code != http.StatusOK {
					b.Fatalf("%d %v", w.Code, err)
				}
			}
		})
	}
}
