package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// Bounds of the feeds' memory.
const (
	// MaxFeedKeys bounds the domains, stacks, roles and names a feed
	// follows (a few words each, samples only while a precursor shows);
	// a new one is not followed while it is full.
	MaxFeedKeys = 100000
	// maxSamples bounds the samples kept per key (the oldest go first).
	maxSamples = 512
	// maxWaits is how many past content waits make the usual one.
	maxWaits = 15
)

// Domains reads the RDAP registration of the domains of a stack's
// resources (the domain_expiry indicator), each domain at most once per
// TTL: registries rate-limit RDAP, and an expiration date moves only when
// the domain is renewed. It is safe for concurrent use.
type Domains struct {
	// Base is the RDAP server's URL up to "/domain/" (https://rdap.org
	// redirects to each registry's own); empty reads nothing.
	Base   string
	Client *http.Client
	// TTL is how long an answer is kept (default 6h); ErrTTL how long a
	// failed lookup is (default 30m). Timeout bounds one lookup (default
	// 5s).
	TTL, ErrTTL, Timeout time.Duration

	mu       sync.Mutex
	cache    map[string]domainEntry
	inflight map[string]bool
}

type domainEntry struct {
	reading forecast.DomainReading
	until   time.Time
}

// Read returns the registrations of spec's resources' domains, by
// resource name, at now (the pass's time: the cache is kept in it).
// Names with no public registration (an IP address, localhost, the
// reserved names of RFC 2606 and RFC 6761) are left out.
func (d *Domains) Read(ctx context.Context, spec config.StackSpec, now time.Time) map[string]forecast.DomainReading {
	if d == nil || d.Base == "" {
		return nil
	}
	var out map[string]forecast.DomainReading
	for name, r := range spec.Resources {
		dom := registrable(resourceHost(r))
		if dom == "" {
			continue
		}
		if out == nil {
			out = map[string]forecast.DomainReading{}
		}
		out[name] = d.lookup(ctx, dom, now)
	}
	return out
}

// lookup answers domain from the cache or asks the registry.
func (d *Domains) lookup(ctx context.Context, domain string, now time.Time) forecast.DomainReading {
	d.mu.Lock()
	e, ok := d.cache[domain]
	if ok && now.Before(e.until) {
		d.mu.Unlock()
		return e.reading
	}
	if d.inflight[domain] {
		// Another pass asks the registry for it right now: the last
		// answer, or none yet (unknown: no forecast is raised or cleared
		// by it).
		d.mu.Unlock()
		if ok {
			return e.reading
		}
		return forecast.DomainReading{Domain: domain, Seen: now, Err: "the registry is being asked"}
	}
	if d.inflight == nil {
		d.inflight = map[string]bool{}
	}
	d.inflight[domain] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.inflight, domain)
		d.mu.Unlock()
	}()
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, orDur(d.Timeout, 5*time.Second))
	defer cancel()
	rd, err := forecast.LookupDomain(ctx, client, d.Base, domain)
	reading := forecast.DomainReadingOf(domain, rd, err, now)
	ttl := orDur(d.TTL, 6*time.Hour)
	if err != nil {
		ttl = orDur(d.ErrTTL, 30*time.Minute)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cache == nil {
		d.cache = map[string]domainEntry{}
	}
	if _, held := d.cache[domain]; held || len(d.cache) < MaxFeedKeys {
		d.cache[domain] = domainEntry{reading, now.Add(ttl)}
	}
	return reading
}

// resourceHost is the host name a resource's probe reaches.
func resourceHost(r config.Resource) string {
	switch r.Probe {
	case config.ProbeHTTP:
		u, err := url.Parse(r.URL)
		if err != nil {
			return ""
		}
		return u.Hostname()
	case config.ProbeTLS, config.ProbeTCP:
		h, _, err := net.SplitHostPort(r.Address)
		if err != nil {
			return r.Address
		}
		return h
	case config.ProbeDNS:
		return r.Name
	}
	return ""
}

// reservedTLDs and reservedDomains have no registration to expire (RFC
// 2606, RFC 6761, RFC 6762, RFC 9476).
var (
	reservedTLDs    = []string{"test", "example", "invalid", "localhost", "local", "internal", "alt", "arpa", "home"}
	reservedDomains = []string{"example.com", "example.net", "example.org"}
)

// registrable is the name under which host is taken to be registered:
// its last two labels (under a second-level public suffix, as co.uk, the
// registry answers 404 and the domain's reading says so: no forecast).
// "" for an IP address, a single label or a reserved name.
func registrable(host string) string {
	host = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
	if host == "" || net.ParseIP(host) != nil {
		return ""
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 || slices.Contains(reservedTLDs, labels[len(labels)-1]) {
		return ""
	}
	dom := strings.Join(labels[len(labels)-2:], ".")
	if slices.Contains(reservedDomains, dom) {
		return ""
	}
	return dom
}

// Credentials keeps, per stack and provider role, whether each of the
// pass's calls to the provider was refused (401/403) or answered
// (drift.ProviderObservation.Answers; one sample from the observation's
// outcome when it logged no call): the unauthorized_share indicator's
// samples. Throttled and failed calls add nothing. A
// role that had no refusal within Keep holds only its run of accepted
// passes (first, last, count): the samples of that run are filled in,
// evenly spaced, at its next refusal, so that a healthy stack costs a few
// words, not a day of samples. It is safe for concurrent use and holds
// only this process's view.
type Credentials struct {
	// Keep is how long samples are kept (default 12h: twice the default
	// trend window).
	Keep time.Duration

	mu    sync.Mutex
	roles map[[3]string]*roleAnswers
}

// roleAnswers are a role's answers: the run of accepted ones since the
// last refusal left Keep, or (once a refusal is within Keep) every sample.
type roleAnswers struct {
	okFirst, okLast time.Time
	okN             int
	samples         []forecast.StatusSample
}

// Record adds the pass's provider observations and returns the stack's
// readings, by role (only roles with a refusal within Keep or a declared
// token expiry, settings.token_expires_at). A confirmed
// provider_unauthorized drift that this pass resolved drops its role's
// samples (they belong to the episode it ended).
func (c *Credentials) Record(p reconcile.PassObservation) map[string]forecast.CredentialReading {
	if c == nil {
		return nil
	}
	keep := orDur(c.Keep, 12*time.Hour)
	cut := p.At.Add(-keep)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roles == nil {
		c.roles = map[[3]string]*roleAnswers{}
	}
	for _, d := range p.Resolved {
		// A refusal that was never confirmed (one pass refused, the
		// next accepted) is a sample of the share, not an episode.
		if d.Code == drift.ProviderUnauthorized && d.Confirmed {
			delete(c.roles, [3]string{p.ClientID, p.StackID, d.Component})
		}
	}
	var out map[string]forecast.CredentialReading
	for role := range p.Spec.Providers {
		k := [3]string{p.ClientID, p.StackID, role}
		ra := c.roles[k]
		if o, seen := p.Observed.Providers[role]; seen {
			statuses := answered(o)
			if len(statuses) > 0 && ra == nil && len(c.roles) < MaxFeedKeys {
				ra = &roleAnswers{}
				c.roles[k] = ra
			}
			for _, status := range statuses {
				if ra != nil {
					ra.add(forecast.StatusSample{At: p.At, Status: status}, cut)
				}
			}
		}
		var r forecast.CredentialReading
		if ra != nil {
			r.Statuses = slices.Clone(ra.samples)
		}
		// The token's expiry as the operator declared it (no provider
		// tells it): a static token, not refreshable by Blackwell.
		if exp, err := p.Spec.Providers[role].TokenExpiresAt(); err != nil {
			r.Err = err.Error()
		} else if !exp.IsZero() {
			r.ExpiresAt = &exp
		}
		if len(r.Statuses) == 0 && r.ExpiresAt == nil && r.Err == "" {
			continue
		}
		if out == nil {
			out = map[string]forecast.CredentialReading{}
		}
		out[role] = r
	}
	return out
}

// answered are the statuses of o's calls that say whether the credentials
// were accepted: 401 and 403 as they came, any other answer below 500
// but 429 as 200 (the provider took the credentials); throttled and
// failed calls say nothing. An observation that logged no call counts as
// one answer from its outcome: unauthorized, or reachable.
func answered(o drift.ProviderObservation) []int {
	var out []int
	for _, s := range o.Answers {
		switch {
		case s == http.StatusUnauthorized || s == http.StatusForbidden:
			out = append(out, s)
		case s < 500 && s != http.StatusTooManyRequests:
			out = append(out, http.StatusOK)
		}
	}
	switch {
	case len(o.Answers) > 0:
		return out
	case o.Reason == drift.ReasonUnauthorized:
		return []int{http.StatusUnauthorized}
	case o.Reachability == drift.Reachable:
		return []int{http.StatusOK}
	}
	return nil
}

// add records s; cut is where Keep begins.
func (ra *roleAnswers) add(s forecast.StatusSample, cut time.Time) {
	refused := func(x forecast.StatusSample) bool { return x.Status != http.StatusOK }
	if len(ra.samples) == 0 {
		if ra.okN > 0 && ra.okFirst.Before(cut) {
			// Drop the part of the run before cut, as if its passes
			// were evenly spaced.
			if !ra.okLast.After(cut) {
				ra.okN = 0
			} else {
				span := ra.okLast.Sub(ra.okFirst)
				ra.okN = max(1, int(math.Round(float64(ra.okN)*float64(ra.okLast.Sub(cut))/float64(span))))
				ra.okFirst = cut
			}
		}
		if !refused(s) {
			if ra.okN == 0 {
				ra.okFirst = s.At
			}
			ra.okN++
			ra.okLast = s.At
			return
		}
		// The first refusal within Keep: the run becomes samples.
		n := min(ra.okN, maxSamples-1)
		for i := range n {
			at := ra.okLast
			if n > 1 {
				at = ra.okFirst.Add(time.Duration(float64(ra.okLast.Sub(ra.okFirst)) * float64(i) / float64(n-1)))
			}
			ra.samples = append(ra.samples, forecast.StatusSample{At: at, Status: http.StatusOK})
		}
		ra.okN = 0
	}
	ra.samples = trim(append(ra.samples, s), cut, func(x forecast.StatusSample) time.Time { return x.At })
	if !slices.ContainsFunc(ra.samples, refused) {
		// No refusal within Keep any more: back to a run.
		ra.okFirst, ra.okLast, ra.okN = ra.samples[0].At, ra.samples[len(ra.samples)-1].At, len(ra.samples)
		ra.samples = nil
	}
}

// EventLister is the store read Content makes when a build finished.
type EventLister interface {
	ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error)
}

// The build event types (build.EventSucceeded, build.EventFailed).
const (
	eventBuildSucceeded = "build.succeeded"
	eventBuildFailed    = "build.failed"
)

// Content keeps, per stack, the content waiting for a deploy (since its
// first change seen after the last successful build), the usual wait of
// past ones, and the recent builds, for the content indicators. It reads
// the stack's build events from the store only when the pass's activity
// shows a build newer than those it holds, not on every pass. It is safe
// for concurrent use and holds only this process's view.
type Content struct {
	Events EventLister
	// Window is how far back builds are read (default 24h); Limit bounds
	// the events read per type (default 200).
	Window time.Duration
	Limit  int

	mu     sync.Mutex
	stacks map[[2]string]*contentState
}

type contentState struct {
	lastBuild time.Time // newest build event the builds were read through
	builds    []forecast.BuildSample
	since     map[string]time.Time
	waits     []time.Duration
}

// Read returns the stack's ContentReading after the pass; nil when the
// stack tracks no content, has no max staleness, or no successful build
// is known (content_stale is not judged then either).
func (c *Content) Read(ctx context.Context, p reconcile.PassObservation) (*forecast.ContentReading, error) {
	if c == nil || len(p.Spec.ContentTypes) == 0 {
		return nil, nil
	}
	maxAge := p.Policy.Content.MaxStaleness.D()
	k := [2]string{p.ClientID, p.StackID}
	c.mu.Lock()
	if c.stacks == nil {
		c.stacks = map[[2]string]*contentState{}
	}
	st := c.stacks[k]
	if st == nil {
		if len(c.stacks) >= MaxFeedKeys {
			c.mu.Unlock()
			return nil, nil
		}
		st = &contentState{since: map[string]time.Time{}}
		c.stacks[k] = st
	}
	c.mu.Unlock()

	var newest time.Time
	for _, a := range p.Activity {
		if (a.EventType == eventBuildSucceeded || a.EventType == eventBuildFailed) && a.Last.After(newest) {
			newest = a.Last
		}
	}
	if newest.After(st.lastBuild) && c.Events != nil {
		builds, err := c.readBuilds(ctx, p)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		st.builds, st.lastBuild = builds, newest
		c.mu.Unlock()
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	o := p.Observed
	if o.LastBuild == nil || maxAge <= 0 {
		return nil, nil
	}
	var waiting map[string]time.Time
	for _, t := range p.Spec.ContentTypes {
		since, remembered := st.since[t]
		if remembered && !since.After(*o.LastBuild) {
			// Deployed: its wait joins the usual ones.
			st.waits = append(st.waits, o.LastBuild.Sub(since))
			if len(st.waits) > maxWaits {
				st.waits = st.waits[len(st.waits)-maxWaits:]
			}
			delete(st.since, t)
			remembered = false
		}
		updated, ok := o.ContentUpdated[t]
		if !ok || !updated.After(*o.LastBuild) {
			continue
		}
		if !remembered || updated.Before(since) {
			st.since[t] = updated
		}
		if waiting == nil {
			waiting = map[string]time.Time{}
		}
		waiting[t] = st.since[t]
	}
	if len(waiting) == 0 {
		return nil, nil // nothing waits: the content indicators have nothing to say
	}
	r := &forecast.ContentReading{MaxStaleness: maxAge, Waiting: waiting, Builds: slices.Clone(st.builds)}
	if b := p.Spec.Providers[config.RoleSSG].Build; b != nil {
		r.BuildTimeout = b.Timeout.D()
	}
	if len(st.waits) > 0 {
		w := slices.Clone(st.waits)
		slices.Sort(w)
		r.UsualWait = w[len(w)/2]
	}
	return r, nil
}

// buildPayload is what Content reads of a build event's payload
// (build.BuildResult).
type buildPayload struct {
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// readBuilds lists the stack's builds of the window, oldest first.
func (c *Content) readBuilds(ctx context.Context, p reconcile.PassObservation) ([]forecast.BuildSample, error) {
	since := p.At.Add(-orDur(c.Window, 24*time.Hour))
	limit := c.Limit
	if limit <= 0 {
		limit = 200
	}
	var out []forecast.BuildSample
	for _, typ := range []string{eventBuildSucceeded, eventBuildFailed} {
		evs, _, err := c.Events.ListEvents(ctx, store.EventQuery{ClientID: p.ClientID, EventType: typ, Since: since, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.StackID != p.StackID {
				continue
			}
			b := forecast.BuildSample{At: ev.Timestamp, OK: typ == eventBuildSucceeded}
			var pl buildPayload
			if json.Unmarshal(ev.Payload, &pl) == nil && !pl.StartedAt.IsZero() && !pl.FinishedAt.IsZero() {
				b.Duration = pl.FinishedAt.Sub(pl.StartedAt)
			}
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b forecast.BuildSample) int { return a.At.Compare(b.At) })
	return out, nil
}

// trim drops the samples before cut and beyond maxSamples.
func trim[T any](s []T, cut time.Time, at func(T) time.Time) []T {
	i := 0
	for i < len(s) && (at(s[i]).Before(cut) || len(s)-i > maxSamples) {
		i++
	}
	return slices.Clone(s[i:])
}

func orDur(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}

// Resolver is what DNS asks of a recursive resolver; *net.Resolver.
type Resolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupNS(ctx context.Context, name string) ([]*net.NS, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// DNS reads, for each resource a dns probe watches, the name servers of
// its zone (NS of its last two labels) and its CNAME target, at most once
// per Every, and keeps the answers at which they changed (the dns_change
// indicator). After a change it asks whether the record is still there:
// for a new delegation, the new name servers themselves (Authority); for a
// new target, whether the target resolves. It is safe for concurrent use
// and holds only this process's view.
type DNS struct {
	// Resolver is the recursive resolver (the probes'; default the
	// system's).
	Resolver Resolver
	// Authority asks the name server server whether it holds name
	// (answers it rather than NXDOMAIN). Default: a query to server's
	// address, port 53, dialled with Dial (default a net.Dialer's).
	Authority func(ctx context.Context, server, name string) (bool, error)
	Dial      func(ctx context.Context, network, address string) (net.Conn, error)
	// Every bounds how often a name is read (default 10m). TTL is the
	// time resolvers are assumed to keep the old answer after a change
	// (Go's resolver does not tell a record's TTL; default 1h). Timeout
	// bounds one name's reads (default 5s).
	Every, TTL, Timeout time.Duration

	mu    sync.Mutex
	names map[[3]string]*dnsState
}

type dnsState struct {
	history []forecast.DNSAnswer // the answers at which something changed
	last    forecast.DNSAnswer   // the newest answer
	read    time.Time
}

// maxDNSAnswers bounds the changes kept per name.
const maxDNSAnswers = 8

// Read returns the DNS answers of the stack's dns resources after the
// pass, by resource name, oldest first. A resource the probe found missing
// this pass is not read again (that is drift now): its answers are those
// read before, so that a forecast of it stays as it was.
func (d *DNS) Read(ctx context.Context, p reconcile.PassObservation) map[string][]forecast.DNSAnswer {
	if d == nil {
		return nil
	}
	var out map[string][]forecast.DNSAnswer
	for name, r := range p.Spec.Resources {
		if r.Probe != config.ProbeDNS || r.Name == "" {
			continue
		}
		o, seen := p.Observed.Resources[name]
		missing := seen && o.Status == drift.StatusMissing
		if answers := d.read(ctx, [3]string{p.ClientID, p.StackID, name}, r.Name, p.At, missing); len(answers) > 0 {
			if out == nil {
				out = map[string][]forecast.DNSAnswer{}
			}
			out[name] = answers
		}
	}
	return out
}

func (d *DNS) read(ctx context.Context, k [3]string, host string, now time.Time, keep bool) []forecast.DNSAnswer {
	d.mu.Lock()
	if d.names == nil {
		d.names = map[[3]string]*dnsState{}
	}
	st := d.names[k]
	if st == nil && len(d.names) >= MaxFeedKeys {
		d.mu.Unlock()
		return nil
	}
	if st == nil {
		st = &dnsState{}
		d.names[k] = st
	}
	fresh := keep || !st.read.IsZero() && now.Sub(st.read) < orDur(d.Every, 10*time.Minute) && !now.Before(st.read)
	// base is the newest answer that held the record: a change is
	// judged against it.
	var base *forecast.DNSAnswer
	for i := len(st.history) - 1; i >= 0; i-- {
		if st.history[i].Held {
			b := st.history[i]
			base = &b
			break
		}
	}
	d.mu.Unlock()
	if !fresh {
		a, ok := d.look(ctx, host, now, base)
		d.mu.Lock()
		if ok {
			st.read, st.last = now, a
			if n := len(st.history); n == 0 || st.history[n-1].Held != a.Held || differs(st.history[n-1], a) {
				st.history = append(st.history, a)
				if len(st.history) > maxDNSAnswers {
					st.history = slices.Clone(st.history[len(st.history)-maxDNSAnswers:])
				}
			}
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st.read.IsZero() {
		return nil
	}
	return append(slices.Clone(st.history), st.last)
}

// look reads host's zone delegation and CNAME target; when they differ
// from base (the last answer that held the record) it asks whether the
// record is held now. ok is false when the resolver could not answer (no
// answer is no evidence).
func (d *DNS) look(ctx context.Context, host string, now time.Time, base *forecast.DNSAnswer) (forecast.DNSAnswer, bool) {
	ctx, cancel := context.WithTimeout(ctx, orDur(d.Timeout, 5*time.Second))
	defer cancel()
	res := d.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	a := forecast.DNSAnswer{At: now, TTL: orDur(d.TTL, time.Hour), Held: true}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if labels := strings.Split(host, "."); len(labels) >= 2 {
		zone := strings.Join(labels[len(labels)-2:], ".")
		ns, err := res.LookupNS(ctx, zone)
		if err != nil && !notFound(err) {
			return a, false
		}
		for _, n := range ns {
			a.NS = append(a.NS, strings.ToLower(strings.TrimSuffix(n.Host, ".")))
		}
		slices.Sort(a.NS)
	}
	target, err := res.LookupCNAME(ctx, host)
	switch {
	case err == nil:
		if t := strings.ToLower(strings.TrimSuffix(target, ".")); t != host {
			a.Target = t
		}
	case !notFound(err):
		return a, false
	}
	if base == nil || !differs(*base, a) {
		return a, true // as it was: held where it was
	}
	// Moved: is the record there now?
	switch {
	case !slices.Equal(base.NS, a.NS) && len(a.NS) > 0:
		held, err := d.authority(ctx, a.NS[0], host)
		if err != nil {
			return a, false
		}
		a.Held = held
	case a.Target != "":
		_, err := res.LookupHost(ctx, a.Target)
		if err != nil && !notFound(err) {
			return a, false
		}
		a.Held = err == nil
	}
	return a, true
}

func (d *DNS) authority(ctx context.Context, server, name string) (bool, error) {
	if d.Authority != nil {
		return d.Authority(ctx, server, name)
	}
	res := d.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	addrs, err := res.LookupHost(ctx, server)
	if err != nil || len(addrs) == 0 {
		return false, fmt.Errorf("name server %s: %v", server, err)
	}
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ask := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dial(ctx, network, net.JoinHostPort(addrs[0], "53"))
	}}
	// A CNAME query: answered by an alias or by addresses alike, unlike
	// an address query (an authority holds an alias without its target's
	// addresses).
	_, err = ask.LookupCNAME(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, err
}

// differs reports a delegation or target other than a's.
func differs(a, b forecast.DNSAnswer) bool {
	return !slices.Equal(a.NS, b.NS) || a.Target != b.Target
}

func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// notices reads, by role, what the providers' answers of the pass
// announced about their own future (the Deprecation, Sunset and
// X-Shopify-API-Deprecated-Reason headers: provider_sunset). A role the
// pass did not hear from is not judged (an unknown with the reason), and
// neither is a malformed header (with the parser's reason): either holds
// an open provider_sunset forecast of the role as it is, and only that one
// (Track holds per indicator, so the other indicators of provider_changed
// still clear theirs).
func notices(p reconcile.PassObservation) map[string]forecast.NoticeReading {
	var out map[string]forecast.NoticeReading
	for role := range p.Spec.Providers {
		o, seen := p.Observed.Providers[role]
		var nr forecast.NoticeReading
		switch {
		case !seen || o.Reachability != drift.Reachable:
			nr.Err = "no answer from the provider in this pass"
		case len(o.Notice) == 0:
			continue
		default:
			h := http.Header{}
			for name, v := range o.Notice {
				h.Set(name, v)
			}
			n, err := forecast.ParseNotice(h, p.At)
			nr.Notice = n
			if err != nil {
				nr.Err = err.Error()
			}
		}
		if out == nil {
			out = map[string]forecast.NoticeReading{}
		}
		out[role] = nr
	}
	return out
}
