package drift

import (
	"slices"
	"strings"

	"github.com/blackwellio/blackwell/internal/config"
)

// integrations finds webhook_broken and integration_mismatch, per declared
// integration. An integration is compared only when its provider's role is
// declared, was observed reachable this pass and its subscriptions could be
// listed, and when in.ReceiverPrefix is set (without it no subscription can
// be recognised as ours, and every integration would look broken).
//
// Several integrations may share one provider, and so one receiver address:
// a subscription is matched to an integration by its topics (topic-based
// integrations) or by its filter (filter-based ones), so one integration's
// subscriptions do not count as another's, nor as a mismatch of another.
func (c *comparison) integrations() {
	if c.in.ReceiverPrefix == "" {
		return
	}
	all := c.in.Desired.Integrations
	for _, name := range sortedKeys(all) {
		ig := all[name]
		binding, ok := c.in.Desired.Providers[ig.Provider]
		if !ok {
			continue
		}
		obs, ok := c.in.Observed.Providers[ig.Provider]
		if !ok || obs.Reachability != Reachable || !obs.SubscriptionsKnown {
			continue
		}
		ours := c.ours(binding.Name, obs.Subscriptions)
		var siblings []config.Integration // the others on the same provider
		for _, other := range sortedKeys(all) {
			if other != name && all[other].Provider == ig.Provider {
				siblings = append(siblings, all[other])
			}
		}
		if len(ig.Topics) > 0 {
			c.topicIntegration(name, ig, ours, siblings)
		} else {
			c.filterIntegration(name, ig, ours, siblings)
		}
	}
}

// topicIntegration compares an integration that declares topics. Every
// declared topic must be covered by an enabled subscription of ours, else
// the webhook is broken. When all are, the enabled subscriptions that overlap
// the declared topics must carry only topics that an integration of this
// provider declares (or covers with a wildcard), and the declared filter, if
// any.
func (c *comparison) topicIntegration(name string, ig config.Integration, ours []Subscription, siblings []config.Integration) {
	want := normTopics(ig.Topics)
	missing, disabled := []string{}, []string{}
	for _, t := range want {
		var found, enabled bool
		for _, s := range ours {
			if slices.ContainsFunc(s.Topics, func(p string) bool { return covers(p, t) }) {
				found = true
				enabled = enabled || s.Enabled
			}
		}
		switch {
		case enabled:
		case found:
			disabled = append(disabled, t)
		default:
			missing = append(missing, t)
		}
	}
	if len(missing)+len(disabled) > 0 {
		c.broken = append(c.broken, name)
		c.addKnown(WebhookBroken, name, want, map[string]any{"missing": missing, "disabled": disabled}, "")
		return
	}

	declared := slices.Clone(want)
	for _, s := range siblings {
		declared = append(declared, normTopics(s.Topics)...)
	}
	filter := strings.TrimSpace(ig.Filter)
	var relevant []Subscription
	mismatch := false
	for _, s := range ours {
		if !s.Enabled || !overlapsAny(s.Topics, want) {
			continue
		}
		relevant = append(relevant, s)
		for _, t := range s.Topics {
			if !slices.ContainsFunc(declared, func(d string) bool { return covers(d, strings.TrimSpace(t)) }) {
				mismatch = true
			}
		}
		if filter != "" && strings.TrimSpace(s.Filter) != filter {
			mismatch = true
		}
	}
	if mismatch {
		c.addKnown(IntegrationMismatch, name, expectedSubscription(want, filter), observedSubscriptions(relevant), "")
	}
}

// filterIntegration compares an integration without topics: an enabled
// subscription of ours must exist. One whose filter equals the declared
// filter is a match. Otherwise a subscription that no other filter-based
// integration of this provider claims (by its filter) is this one's, and it
// is a mismatch when a filter is declared. Subscriptions that serve a
// topic-based integration of the same provider are left to it. Topics are
// not compared here: the integration declares none.
func (c *comparison) filterIntegration(name string, ig config.Integration, ours []Subscription, siblings []config.Integration) {
	filter := strings.TrimSpace(ig.Filter)
	var siblingTopics, claimed []string
	for _, s := range siblings {
		if len(s.Topics) > 0 {
			siblingTopics = append(siblingTopics, normTopics(s.Topics)...)
		} else {
			claimed = append(claimed, strings.TrimSpace(s.Filter))
		}
	}
	var candidates, disabled []Subscription
	for _, s := range ours {
		if overlapsAny(s.Topics, siblingTopics) {
			continue
		}
		f := strings.TrimSpace(s.Filter)
		if f == filter && s.Enabled {
			return // an exact match
		}
		if f != filter && slices.Contains(claimed, f) {
			continue
		}
		if s.Enabled {
			candidates = append(candidates, s)
		} else {
			disabled = append(disabled, s)
		}
	}
	switch {
	case len(candidates) == 0:
		c.broken = append(c.broken, name)
		c.addKnown(WebhookBroken, name, map[string]any{"filter": filter},
			map[string]any{"disabled": subscriptionIDs(disabled)}, "")
	case filter != "":
		c.addKnown(IntegrationMismatch, name, expectedSubscription(nil, filter), observedSubscriptions(candidates), "")
	}
}

// ours returns the subscriptions addressed to this stack's receiver:
// {ReceiverPrefix}/{binding}/{client_id}, for every stack of the client, or
// that followed by /{stack_id}. A query string or trailing slash is ignored.
// Addresses of other clients (including ones whose id merely starts with
// this client's) and of the client's other stacks are not ours.
func (c *comparison) ours(binding string, subs []Subscription) []Subscription {
	base := strings.TrimRight(c.in.ReceiverPrefix, "/") + "/" + binding + "/" + c.in.ClientID
	var out []Subscription
	for _, s := range subs {
		addr := s.Address
		if i := strings.IndexAny(addr, "?#"); i >= 0 {
			addr = addr[:i]
		}
		rest, ok := strings.CutPrefix(strings.TrimRight(addr, "/"), base)
		if ok && (rest == "" || rest == "/"+c.in.StackID) {
			out = append(out, s)
		}
	}
	return out
}

// expectedSubscription is the Expected of an integration_mismatch.
func expectedSubscription(topics []string, filter string) map[string]any {
	if topics == nil {
		topics = []string{}
	}
	return map[string]any{"topics": topics, "filter": filter}
}

// observedSubscriptions is the Observed of an integration_mismatch: the
// union of the subscriptions' topics, their filter (a list when they differ
// among themselves) and their ids.
func observedSubscriptions(subs []Subscription) map[string]any {
	var topics, filters []string
	for _, s := range subs {
		topics = append(topics, s.Topics...)
		filters = append(filters, strings.TrimSpace(s.Filter))
	}
	topics = normTopics(topics)
	slices.Sort(filters)
	filters = slices.Compact(filters)
	var filter any = filters
	if len(filters) == 1 {
		filter = filters[0]
	}
	return map[string]any{"topics": topics, "filter": filter, "subscriptions": subscriptionIDs(subs)}
}

func subscriptionIDs(subs []Subscription) []string {
	ids := []string{}
	for _, s := range subs {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// normTopics returns the topics trimmed, sorted, without duplicates or
// empty entries, and never nil.
func normTopics(topics []string) []string {
	out := []string{}
	for _, t := range topics {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// covers reports whether a subscription topic delivers every event of the
// wanted topic. Topics are compared segment by segment on ".", and a "*"
// segment of the subscription matches any segment (Contentful's
// "Entry.*", "*.publish", "*.*"); "*" alone matches everything.
func covers(pattern, want string) bool {
	return matchSegments(strings.TrimSpace(pattern), want, false)
}

// overlapsAny reports whether one of the subscription's topics and one of
// the wanted topics can match a common event, with "*" on either side.
func overlapsAny(topics, wants []string) bool {
	for _, t := range topics {
		for _, w := range wants {
			if matchSegments(strings.TrimSpace(t), w, true) {
				return true
			}
		}
	}
	return false
}

func matchSegments(pattern, want string, both bool) bool {
	if pattern == want || pattern == "*" || (both && want == "*") {
		return true
	}
	ps, ws := strings.Split(pattern, "."), strings.Split(want, ".")
	if len(ps) != len(ws) {
		return false
	}
	for i := range ps {
		if ps[i] != ws[i] && ps[i] != "*" && !(both && ws[i] == "*") {
			return false
		}
	}
	return true
}
