package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The demo's application: acme-corp's shop in three environments. Each
// environment has its own fakes, so the bindings' addresses, the secrets'
// names and the site differ by environment and are overrides; dev carries
// a release staging and prod do not have yet (a new tracked content type).
const (
	appClient = "acme-corp"
	appName   = "shop"
)

// appOverrides are the fields the shop's environments may differ in.
const appOverrides = "  overrides: [providers.cms.settings, providers.cms.credentials, providers.cms.webhook_secret, " +
	"providers.ecommerce.settings, providers.ecommerce.credentials, providers.ecommerce.webhook_secret, providers.ssg.build, " +
	"resources.site.url]\n"

// pipelineDoc is the shop's pipeline: staging soaks, prod needs approval.
const pipelineDoc = `---
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: %s, app: %s}
spec:
  stages:
    - {environment: dev}
    - {environment: staging, soak: %s}
    - {environment: prod, approval: required}
`

// inApp reports whether a world stack is an environment of the demo's
// application.
func inApp(s *sim.StackWorld) bool {
	return s.ClientID == appClient && strings.HasPrefix(s.StackID, appName+"-")
}

// appStackConfig is the document of one of the application's stacks: its
// overrides, and in dev the new release.
func appStackConfig(s *sim.StackWorld) string {
	doc := strings.Replace(s.StackConfig(), "spec:\n", "spec:\n"+appOverrides, 1)
	if s.Environment == "dev" {
		doc = strings.Replace(doc, "content_types: [post, page, product]", "content_types: [post, page, product, collection]", 1)
	}
	return doc
}

// release promotes dev's release to staging, then asks for prod (which
// waits for "blackwell approve"), printing each step, until ctx ends.
func (d *session) release(ctx context.Context, o Options) {
	p := d.srv.Promoter()
	for _, step := range [][2]string{{"dev", "staging"}, {"staging", "prod"}} {
		rec, ok := d.startPromotion(ctx, p, step[0], step[1], o.Interval)
		if !ok {
			return
		}
		if !d.followPromotion(ctx, rec, o.Interval) {
			return
		}
	}
}

// startPromotion asks for a promotion until it starts (the source may be
// soaking, or drifting: a fault of the demo), printing why it waits once.
func (d *session) startPromotion(ctx context.Context, p *promote.Promoter, from, to string, every time.Duration) (store.Promotion, bool) {
	req := promote.Request{ClientID: appClient, App: appName, From: from, To: to, By: "demo"}
	said := ""
	for {
		rec, plan, err := p.Start(ctx, req)
		if err == nil {
			d.printf("promote %s/%s %s -> %s: %s to %s (%d changes), %s", appClient, appName, from, to, plan.FromVersion, plan.ToStack, len(plan.Changes), rec.Status)
			return rec, true
		}
		var soak *promote.SoakError
		why := err.Error()
		if errors.As(err, &soak) {
			why = fmt.Sprintf("%s soaks %s", from, soak.Required)
		}
		if why != said && !errors.Is(err, context.Canceled) {
			d.printf("promote %s/%s %s -> %s waits: %s", appClient, appName, from, to, why)
			said = why
		}
		if !sleep(ctx, every) {
			return store.Promotion{}, false
		}
	}
}

// followPromotion prints where a promotion goes until it ends; it reports
// whether it succeeded.
func (d *session) followPromotion(ctx context.Context, rec store.Promotion, every time.Duration) bool {
	last := rec.Status
	if last == store.PromotionAwaitingApproval {
		d.printf("promote %s/%s %s -> %s awaits approval: blackwell approve %s", appClient, appName, rec.From, rec.To, rec.ApprovalID)
	}
	for rec.Status.Unfinished() {
		if !sleep(ctx, every) {
			return false
		}
		cur, err := d.srv.Store().GetPromotion(ctx, appClient, rec.ID)
		if err != nil {
			continue
		}
		rec = cur
		if rec.Status != last && rec.Status.Unfinished() {
			d.printf("promote %s/%s %s -> %s: %s", appClient, appName, rec.From, rec.To, rec.Status)
		}
		last = rec.Status
	}
	switch rec.Status {
	case store.PromotionSucceeded:
		d.printf("promote %s/%s %s -> %s succeeded: %s is %s, verified on a fresh pass", appClient, appName, rec.From, rec.To, rec.ToStack, rec.NewVersion)
		return true
	default:
		d.printf("promote %s/%s %s -> %s %s: %s", appClient, appName, rec.From, rec.To, rec.Status, rec.Error)
		return false
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
