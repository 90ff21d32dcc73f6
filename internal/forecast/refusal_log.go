package forecast

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxRefusalKeys bounds the subscriptions a RefusalLog follows; a delivery
// of another one is not recorded while it is full.
const MaxRefusalKeys = 10000

// RefusalLog follows, per provider, client and topic, the streak of
// deliveries the webhook receiver refused or could not take (any answer
// but 2xx), ended by the next accepted one. It is what the webhook_broken
// indicator reads (Streaks). It is safe for concurrent use and holds only
// this process's view: with several replicas behind a load balancer, each
// sees the deliveries it answered.
type RefusalLog struct {
	mu      sync.Mutex
	streaks map[refusalKey]*RefusalStreak
}

type refusalKey struct{ provider, client, topic string }

// NewRefusalLog returns an empty log.
func NewRefusalLog() *RefusalLog {
	return &RefusalLog{streaks: map[refusalKey]*RefusalStreak{}}
}

// Record notes one delivery's answer: status below 300 ends the streak of
// its provider, client and topic, anything else extends it. The topic is
// read from the provider's header (Shopify's X-Shopify-Topic); other
// providers are recorded without one.
func (l *RefusalLog) Record(provider, clientID string, h http.Header, status int, at time.Time) {
	topic := ""
	if provider == "shopify" {
		topic = clip(strings.TrimSpace(h.Get("X-Shopify-Topic")), 64)
	}
	k := refusalKey{provider, clientID, topic}
	l.mu.Lock()
	defer l.mu.Unlock()
	if status >= 200 && status < 300 {
		delete(l.streaks, k)
		return
	}
	s := l.streaks[k]
	if s == nil {
		if len(l.streaks) >= MaxRefusalKeys {
			return
		}
		s = &RefusalStreak{Provider: provider, Topic: topic, First: at}
		l.streaks[k] = s
	}
	s.Count++
	s.Last, s.LastStatus = at, status
}

// Streaks returns the client's current streaks, by provider and topic.
func (l *RefusalLog) Streaks(clientID string) []RefusalStreak {
	l.mu.Lock()
	var out []RefusalStreak
	for k, s := range l.streaks {
		if k.client == clientID {
			out = append(out, *s)
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b RefusalStreak) int {
		return strings.Compare(a.Provider+"\x00"+a.Topic, b.Provider+"\x00"+b.Topic)
	})
	return out
}

// Recreated notes that the subscription of provider, client and topic was
// created again at at (Blackwell re-registered it after the provider
// deleted it): its streak ends, since the provider counts the failed
// deliveries of the new subscription from zero. Deliveries refused before
// at belong to the deleted subscription; the next refusal starts a new
// streak.
func (l *RefusalLog) Recreated(provider, clientID, topic string, at time.Time) {
	k := refusalKey{provider, clientID, clip(strings.TrimSpace(topic), 64)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.streaks[k]; s != nil && !s.Last.After(at) {
		delete(l.streaks, k)
	}
}
