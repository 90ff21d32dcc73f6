// Package demo runs the live demo world of blackwell demo: the server
// (internal/server) with a temporary store on a small simulated world of
// client stacks, each with a fake headless CMS, a fake Shopify shop, a fake
// build hook and a local site (internal/sim), all speaking the providers'
// real APIs. On a timer a realistic fault is injected into one stack and
// mended after a while, so drift appears and clears; each drift is
// announced to local Slack, PagerDuty, email, webhook and NATS receivers,
// and the demo prints a line per fault, mend, status change, heal attempt
// and notification. At the end the audit chain is verified.
package demo
