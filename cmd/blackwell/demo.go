package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/demo"
)

func newDemoCmd(g *globals) *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a live demo world: fake providers and sites break and mend, drift appears and clears",
		Long: `Start the server with a temporary store on a small simulated world: a few
client stacks, each with a headless CMS (a fake Sanity or Contentful), a fake
Shopify shop, a fake build hook and a local site, all speaking the providers'
real APIs. The config points every binding at its fake and every webhook at
the server. On a timer a realistic fault is injected (a deleted Shopify
webhook, a revoked Shopify token, a failing or vanished site, a post
published without a rebuild) and mended after a while, so drift appears and
clears while you watch. Each drift is announced to local Slack, PagerDuty,
email (SMTP), webhook and NATS receivers, which print a line per message;
at exit the audit chain is verified.

It serves on --listen (or BLACKWELL_LISTEN; default 127.0.0.1:8080) and prints
the commands and URLs for that address:

  blackwell status --server http://LISTEN     # in another terminal
  blackwell drift acme-corp --server http://LISTEN
  open http://LISTEN/metrics`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.BootstrapTokenFile = g.bootstrapFile // bootstrap.go
			if o.BootstrapTokenFile == "" {
				o.BootstrapTokenFile = defaultBootstrapFile(o.Listen)
			}
			o.Version = buildVersion()
			o.LogHandler = func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, logOptions(slog.LevelInfo)) }
			return cliError(demo.Run(cmd.Context(), g.stdout, o))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", envOr("BLACKWELL_LISTEN", "127.0.0.1:8080"), "address of the HTTP API (BLACKWELL_LISTEN)")
	f.DurationVar(&o.FaultEvery, "fault-every", 15*time.Second, "how often a fault is injected")
	f.DurationVar(&o.MendAfter, "mend-after", 30*time.Second, "how long a fault lasts")
	f.DurationVar(&o.Interval, "interval", 5*time.Second, "scheduled pass interval of the demo policy")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: until interrupted)")
	f.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (store, config, log) at exit")
	return cmd
}
