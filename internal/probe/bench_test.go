package probe_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/probe"
)

// benchServer is one local site with a small page, as in a fleet of sites
// behind one edge.
func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><html><body><p>blackwell-bench-ok</p></body></html>")
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkProbeHTTP probes one local server from many goroutines (256 per
// core) through one default Prober. Allocations include the server's, which
// runs in the same process.
func BenchmarkProbeHTTP(b *testing.B) {
	srv := benchServer(b)
	p := probe.New(probe.Options{})
	r := config.Resource{Probe: config.ProbeHTTP, URL: srv.URL + "/", BodyMatch: "blackwell-bench-ok"}
	b.ReportAllocs()
	b.SetParallelism(256)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if obs := p.Probe(b.Context(), "site", r); obs.Status != drift.StatusHealthy {
				b.Errorf("probe: %s %s", obs.Status, obs.Detail)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "probes/s")
}

// BenchmarkProbeAll10k is one ProbeAll of 10,000 http resources against one
// local server, as one pass over a large fleet.
func BenchmarkProbeAll10k(b *testing.B) {
	const n = 10_000
	srv := benchServer(b)
	p := probe.New(probe.Options{})
	resources := make(map[string]config.Resource, n)
	for i := range n {
		resources["site-"+strconv.Itoa(i)] = config.Resource{
			Probe:     config.ProbeHTTP,
			URL:       srv.URL + "/" + strconv.Itoa(i),
			BodyMatch: "blackwell-bench-ok",
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got := p.ProbeAll(b.Context(), resources)
		for name, obs := range got {
			if obs.Status != drift.StatusHealthy {
				b.Fatalf("%s: %s %s", name, obs.Status, obs.Detail)
			}
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "probes/s")
}
