// Package rollback records known-good snapshots of stacks and rolls a
// stack back across providers.
//
// A verified pass (no open drift, every provider seen, every probe
// healthy) records a Snapshot (Recorder): the desired state version and
// what the providers ran: the deployment serving the site (a host's
// deploy API) or the source version a CodeBuild build ran, the CMS
// environment alias's target, the webhook subscriptions and their API
// version, the answers of dns probes.
//
// Service.Start restores a snapshot in dependency order: the desired
// state (internal/state, with an optional hold that pins it), the CMS
// environment alias, the subscriptions (internal/heal), the deployed
// build (Netlify restore, Vercel rollback, Cloudflare Pages rollback,
// CodeBuild re-run of the old source version), then verifies with a pass
// of the same probes. Every step is written to a RollbackRecord before the
// next begins, so a rollback interrupted by a crash resumes on restart
// (Service.Resume). Pins makes heals of a pinned stack rebuild toward the
// pinned snapshot, never back to the newer source.
package rollback
