package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// fault is a fault of the world and how it is mended.
type fault struct {
	name   string
	inject func(ctx context.Context, s *sim.StackWorld) (string, error)
	mend   func(ctx context.Context, s *sim.StackWorld) (string, error)
}

func (d *session) catalogue() []fault {
	site := func(m sim.Mode) func(context.Context, *sim.StackWorld) (string, error) {
		return func(_ context.Context, s *sim.StackWorld) (string, error) { return "", s.Site.SetMode(m) }
	}
	return []fault{
		{"Shopify webhook products/update deleted",
			func(_ context.Context, s *sim.StackWorld) (string, error) {
				for _, h := range s.Shop.Webhooks() {
					if h.Topic == "products/update" {
						s.Shop.DeleteWebhook(h.ID)
						return "", nil
					}
				}
				return "", fmt.Errorf("no products/update webhook")
			},
			func(_ context.Context, s *sim.StackWorld) (string, error) {
				for _, h := range s.Shop.Webhooks() {
					if h.Topic == "products/update" {
						return "already healed", nil
					}
				}
				id := s.Shop.AddWebhook("products/update", s.Receiver(d.prefix, "shopify"))
				return fmt.Sprintf("shop re-created webhook %d", id), nil
			}},
		{"Shopify access token revoked",
			func(_ context.Context, s *sim.StackWorld) (string, error) { s.Shop.RevokeToken(); return "", nil },
			func(_ context.Context, s *sim.StackWorld) (string, error) { s.Shop.RestoreToken(); return "", nil }},
		{"site answers 503", site(sim.ModeFailing), site(sim.ModeHealthy)},
		{"site answers 404", site(sim.ModeMissing), site(sim.ModeHealthy)},
		{"site is down", site(sim.ModeDown), site(sim.ModeHealthy)},
		{"post published, site not rebuilt", d.publish,
			func(ctx context.Context, s *sim.StackWorld) (string, error) {
				res, err := d.builder.Trigger(ctx, d.ssg(s))
				if err != nil {
					return "", err
				}
				return "rebuilt: " + res.Detail, nil
			}},
	}
}

// publish makes the stack's CMS send a signed content webhook for a post
// to our receiver. Where the receiver does not take it, the event is
// recorded directly, as the receiver would have.
func (d *session) publish(ctx context.Context, s *sim.StackWorld) (string, error) {
	now := time.Now().UTC()
	id := "post-" + uuid.NewString()[:8]
	var results []sim.DeliveryResult
	switch {
	case s.Sanity != nil:
		doc, _ := json.Marshal(map[string]any{"_id": id, "_type": "post", "_rev": uuid.NewString()[:12],
			"_updatedAt": now.Format(time.RFC3339Nano), "title": "Spring sale"})
		results = s.Sanity.Deliver(ctx, "update", doc)
	case s.Contentful != nil:
		doc, _ := json.Marshal(map[string]any{"sys": map[string]any{"id": id, "type": "Entry", "version": 2,
			"contentType": map[string]any{"sys": map[string]any{"type": "Link", "linkType": "ContentType", "id": "post"}},
			"environment": map[string]any{"sys": map[string]any{"id": "master", "type": "Link", "linkType": "Environment"}},
			"updatedAt":   now.Format(time.RFC3339Nano)}, "fields": map[string]any{"title": map[string]any{"en-US": "Spring sale"}}})
		results = s.Contentful.Deliver(ctx, "Entry.publish", doc)
	}
	for _, r := range results {
		if r.OK() {
			return fmt.Sprintf("signed %s webhook delivered (%d)", s.CMSName(), r.Status), nil
		}
	}
	_, err := d.srv.Store().InsertEvents(ctx, []store.Event{{
		EventID: uuid.NewString(), ClientID: s.ClientID, StackID: s.StackID, ProviderName: s.CMSName(),
		EventType: "content.updated", ContentID: id, ContentType: "post", Timestamp: now, Environment: s.Environment,
		Payload: json.RawMessage(`{"demo":true}`), ReceivedAt: now, TTLTimestamp: now.Add(24 * time.Hour).Unix(),
	}})
	if err != nil {
		return "", err
	}
	d.srv.Loop().Trigger(s.ClientID, s.StackID, reconcile.TriggerEvent)
	return "event recorded directly (receiver did not take the delivery)", nil
}

// faults breaks and mends the world on a timer, one fault per stack at a
// time.
func (d *session) faults(ctx context.Context, o Options) {
	catalogue := d.catalogue()
	if o.FaultName != "" {
		i := slices.IndexFunc(catalogue, func(f fault) bool { return f.name == o.FaultName })
		if i < 0 {
			d.printf("fault  no fault named %q", o.FaultName)
			return
		}
		catalogue = catalogue[i : i+1]
	}
	injected := 0
	busy := map[*sim.StackWorld]bool{}
	var mu sync.Mutex
	var mends sync.WaitGroup
	defer mends.Wait()
	tick := time.NewTicker(o.FaultEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if o.FaultLimit > 0 && injected >= o.FaultLimit {
			continue
		}
		mu.Lock()
		var free []*sim.StackWorld
		for _, s := range d.world.Stacks {
			if !busy[s] && (o.FaultStack == "" || o.FaultStack == s.ClientID+"/"+s.StackID) {
				free = append(free, s)
			}
		}
		if len(free) == 0 {
			mu.Unlock()
			continue
		}
		s := free[rand.IntN(len(free))]
		f := catalogue[rand.IntN(len(catalogue))]
		busy[s] = true
		mu.Unlock()
		note, err := f.inject(ctx, s)
		if err != nil {
			d.printf("fault  %s/%s: %s: %v", s.ClientID, s.StackID, f.name, err)
			mu.Lock()
			busy[s] = false
			mu.Unlock()
			continue
		}
		d.printf("fault  %s/%s: %s%s", s.ClientID, s.StackID, f.name, suffix(note))
		injected++
		mends.Add(1)
		go func() {
			defer mends.Done()
			t := time.NewTimer(o.MendAfter)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if note, err := f.mend(ctx, s); err != nil {
				d.printf("mend   %s/%s: %s: %v", s.ClientID, s.StackID, f.name, err)
			} else {
				d.printf("mend   %s/%s: %s fixed%s", s.ClientID, s.StackID, f.name, suffix(note))
			}
			mu.Lock()
			busy[s] = false
			mu.Unlock()
		}()
	}
}
