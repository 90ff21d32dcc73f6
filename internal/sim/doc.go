// Package sim holds faithful fakes of the outside world for tests, the demo
// and benchmarks: servers on 127.0.0.1 that speak the real protocols and can
// be switched at run time between healthy and the ways real things fail, so
// that probes, drivers and the reconciler are exercised against the wire and
// never against a mock.
//
//   - Site and DNSServer: a web site and a DNS server (probes).
//   - Shopify, Sanity, Contentful and IntegrationAPI: each provider's
//     webhook-subscription management API as its docs describe it (paths,
//     headers, status codes, pagination, rate-limit answers, error bodies),
//     plus signed deliveries in the provider's own scheme (Deliver). Faults
//     on command: APIFaults (429 with the provider's wait, 500, slowness),
//     revoked tokens, deleted or changed subscriptions, stopped events.
//   - BuildHook and CodeBuild: Netlify/Vercel/Cloudflare build hooks and
//     AWS CodeBuild's JSON protocol with SigV4 checked.
//   - StackWorld and World: one stack's fakes together, with the
//     blackwell.yaml document that points every binding at them.
//
// Each fake cites the documentation it follows, and signs with code of its
// own, so that it and the receivers in internal/provider check each other.
package sim
