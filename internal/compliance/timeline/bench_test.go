package timeline_test

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/compliance"
	"github.com/blackwellio/blackwell/internal/compliance/timeline"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// countingStore is a ComplianceStore that counts writes.
type countingStore struct {
	store.ComplianceStore
	writes int
}

func (c *countingStore) RecordCompliance(context.Context, store.ComplianceWrite) (int, error) {
	c.writes++
	return 1, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecorderPass10k50 is the whole compliance hook of a full pass
// of 10,000 stacks under 50 rules (the rules of
// compliance.BenchmarkEvaluatePass10k50's kinds): views, keys, evaluation
// and the comparison with what was recorded, the store left out (a pass
// whose statuses did not change does not touch it). In steady state
// nothing changed since the last pass; in changing, every stack's
// observation differs from its last (one resource flips), so every rule
// that reads observed is evaluated again. In cold, each pass is the first
// after a start: a new recorder and a newly compiled engine, nothing
// memoised or shared, every stack's statuses written.
//
//	go test -run '^$' -bench BenchmarkRecorderPass10k50 -benchtime 3x ./internal/compliance/timeline
func BenchmarkRecorderPass10k50(b *testing.B) {
	kinds := []string{
		"stack.providers.all(p, stack.providers[p].webhook_secrets.all(s, s.env_reference))",
		"!policy.auto_heal.enabled || 'resource_replacement' in policy.auto_heal.require_approval",
		"'cms_provider_change' in policy.auto_heal.require_approval",
		"stack.resources.exists(r, stack.resources[r].probe == 'tls')",
		"size(policy.notifications.channels) > 0",
		"policy.content.max_staleness <= duration('1h')",
		"observed.status == 'healthy'",
		"observed.resources.all(r, !(observed.resources[r] in ['unhealthy', 'missing']))",
		"!('webhook_broken' in observed.open_drifts)",
		"stack.integrations.all(i, size(stack.integrations[i].topics) > 0)",
	}
	var rules []config.ComplianceRule
	for i := range 50 {
		rules = append(rules, config.ComplianceRule{Name: fmt.Sprintf("rule-%02d", i), Mode: config.RuleAudit, Expression: kinds[i%len(kinds)]})
	}
	compile := func() *compliance.Engine {
		e, err := compliance.Compile(&config.OrganizationSpec{Rules: rules}, func(string) config.Place { return config.Place{} })
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	e := compile()
	spec := config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			"cms":       {Name: "sanity", WebhookSecret: config.SecretList{{Ref: "${SANITY_WHSEC}"}}},
			"ecommerce": {Name: "shopify", WebhookSecret: config.SecretList{{Ref: "${SHOPIFY_WHSEC}"}}},
		},
		Integrations: map[string]config.Integration{"products": {Provider: "ecommerce", Topics: []string{"products/update"}}},
		Resources:    map[string]config.Resource{"site": {Probe: "http"}, "cert": {Probe: "tls"}},
	}
	pol := config.DefaultPolicy()
	for _, mode := range []string{"cold", "steady", "changing"} {
		b.Run(mode, func(b *testing.B) {
			st := &countingStore{}
			rec := timeline.NewRecorder(st, func(context.Context) (*compliance.Engine, error) { return e, nil }, nil)
			pass := func(i, n int) reconcile.PassObservation {
				status := drift.StatusHealthy
				if mode == "changing" && n%2 == 1 {
					status = drift.StatusUnknown
				}
				return reconcile.PassObservation{ClientID: fmt.Sprintf("c%03d", i/100), StackID: fmt.Sprintf("s%05d", i), Environment: "prod",
					Spec: spec, Policy: pol, At: time.Unix(int64(n), 0),
					Observed: drift.Observed{DesiredHash: "h", Resources: map[string]drift.ResourceObservation{
						"site": {Status: status}, "cert": {Status: drift.StatusHealthy}}}}
			}
			for i := range 10_000 {
				rec.AfterPass(context.Background(), pass(i, 0))
			}
			passes := make([]reconcile.PassObservation, 10_000)
			n := 0
			writes := st.writes
			var cpu time.Duration
			for b.Loop() {
				n++
				b.StopTimer()
				for i := range passes {
					passes[i] = pass(i, n)
				}
				if mode == "cold" {
					e := compile()
					rec = timeline.NewRecorder(st, func(context.Context) (*compliance.Engine, error) { return e, nil }, nil)
				}
				runtime.GC() // the garbage of what came before is not this pass's
				b.StartTimer()
				start := cpuTime()
				for i := range passes {
					rec.AfterPass(context.Background(), passes[i])
				}
				cpu += cpuTime() - start
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(st.writes-writes)/float64(b.N), "writes/op")
		})
	}
}
