package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/gcfloor"
	"github.com/blackwellio/blackwell/internal/ingest"
	bwserver "github.com/blackwellio/blackwell/internal/server"
)

func newServeCmd(g *globals) *cobra.Command {
	var o serverOptions
	var (
		logLevel    string
		gcFloor     int64
		egressAllow string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reconciler and its API",
		Long: `Run the reconcile loop and the REST API. The config file is applied at start
and again on SIGHUP, exactly as "blackwell apply" does; a config that fails
validation is refused whole and the running state stays as it was. With
--tls-cert and --tls-key the API is served over HTTPS (TLS 1.3), and SIGHUP
re-reads the certificate too (one that does not load is logged, the old one
stays).

Every flag also reads BLACKWELL_<FLAG> from the environment
(BLACKWELL_STORE, BLACKWELL_PUBLIC_URL, ...).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level: %w", err)}
			}
			o.configRequired = cmd.Flags().Changed("config") || os.Getenv("BLACKWELL_CONFIG") != ""
			if _, err := o.tenancy.fileRules(); err != nil {
				return err
			}
			o.logOut = g.stderr
			if err := bwserver.CheckTLSFlags(o.tlsCert, o.tlsKey); err != nil {
				return usageError{err}
			}
			eg, err := parseEgressAllow(egressAllow) // egress.go
			if err != nil {
				return err
			}
			o.egress = eg
			if gcFloor < 0 {
				return usageError{fmt.Errorf("--gc-heap-floor: %d is negative", gcFloor)}
			}
			defer gcfloor.Start(uint64(gcFloor)).Stop()
			// The global --bootstrap-token-file: where serve writes the
			// token and the CLI reads it.
			o.bootstrapTokenFile = g.bootstrapFile
			if o.bootstrapTokenFile == "" {
				o.bootstrapTokenFile = defaultBootstrapFile(o.listen)
			}
			return serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.configPath, "config", "f", "blackwell.yaml", "config file to apply at start and on SIGHUP")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of the HTTP API")
	f.StringVar(&o.storeURL, "store", "sqlite://./blackwell.db", "store URL: sqlite://PATH or postgres://USER@HOST/DB")
	f.StringVar(&o.publicURL, "public-url", "", "public address of this server, used in webhook subscriptions (default: http://LISTEN, https://LISTEN with --tls-cert)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS (TLS 1.3 only) with this certificate, PEM, chain after the leaf; re-read on SIGHUP; needs --tls-key")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key of --tls-cert, PEM")
	f.StringVar(&egressAllow, "egress-allow", "", egressAllowUsage)
	f.IntVar(&o.workers, "workers", 0, "passes run at once (0: 64 on SQLite, 128 on PostgreSQL, 8 on a dynamodb:// store)")
	f.StringVar(&o.rdapBase, "rdap-base", "", "RDAP server asked for the registration of the stacks' resource domains, for domain-expiry forecasts (its URL up to /domain/, e.g. https://rdap.org; empty: not asked)")
	f.DurationVar(&o.leaseTTL, "lease-ttl", 10*time.Second, "with several replicas on PostgreSQL: how long a replica's shard leases outlive it (a dead replica's stacks move after about this long)")
	f.DurationVar(&o.historyRetention, "history-retention", 7*24*time.Hour, "how long reconciliation results are kept")
	f.DurationVar(&o.auditRetention, "audit-retention", 0, "how long audit entries are kept (0: for ever); older ones are pruned behind a checkpoint signed with --audit-key-file")
	f.StringVar(&o.auditKeyFile, "audit-key-file", "", "Ed25519 private key (PKCS #8 PEM, see audit keygen) that signs audit checkpoints and the audit chain's head")
	f.DurationVar(&o.auditSignInterval, "audit-sign-interval", time.Minute, "with --audit-key-file: how often the audit chain's head is signed when it moved (0: never; audit sign does it by hand)")
	f.DurationVar(&o.eventRetention, "event-retention", ingest.DefaultRetention, "how long provider events are kept (their ttl_timestamp)")
	f.Int64Var(&o.webhookMaxBody, "webhook-max-body", ingest.DefaultMaxBodyBytes, "largest webhook body accepted, in bytes (larger: 413)")
	f.IntVar(&o.webhookMaxInFlight, "webhook-max-in-flight", ingest.DefaultMaxInFlight, "webhook deliveries received at once (more: 429 with Retry-After)")
	f.DurationVar(&o.webhookTriggerEvery, "webhook-trigger-interval", ingest.DefaultTriggerEvery, "at most one event-triggered pass per stack per interval (the first at once)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long passes in flight may finish at shutdown")
	f.StringVar(&o.pprofListen, "pprof-listen", "", "serve Go's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (off by default; no auth: keep it on loopback)")
	f.Int64Var(&gcFloor, "gc-heap-floor", defaultGCHeapFloor, "heap size, in bytes, below which the garbage collector waits to run: while the live heap is small it collects about every this many bytes allocated rather than every 4 MiB (0: Go's default; GOGC and GOMEMLIMIT still apply)")
	f.StringSliceVar(&o.allowedHosts, "allowed-hosts", nil, "more host names that writes may name in Host and Origin (loopback names, the --listen host and the --public-url host always may)")
	f.BoolVar(&o.metricsAuth, "metrics-auth", false, "make /metrics need an unscoped viewer API token (its labels name every client's stacks)")
	f.StringVar(&o.encryptionKeyFile, "encryption-key-file", "", "seal stored webhook payloads and notification bodies (AES-256-GCM) with keys of this file: lines id:base64 of 32 bytes, the first current (docs/DATA.md; blackwell keys)")
	f.BoolVar(&o.replica, "replica", false, "start even when another serve uses the same SQLite store, as a replica of it (without it that is refused: on SQLite it is almost always a mistake)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	o.tenancy.register(f, true) // tenancy.go
	bindServeEnv(f)
	return cmd
}

// defaultGCHeapFloor is --gc-heap-floor's default: 64 MiB. A webhook flood
// on a small installation then collects about twice a second instead of
// 30 times, for about 60 MiB more memory (docs/DEPLOYMENT.md).
const defaultGCHeapFloor = 64 << 20

// serve runs a server until ctx ends (SIGINT/SIGTERM), reloading on SIGHUP.
func serve(ctx context.Context, o serverOptions) error {
	s, err := startServer(ctx, o)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return s.Shutdown(context.Background())
		case <-hup:
			if err := s.Reload(ctx); err != nil {
				s.log.Error("reload refused; running state unchanged", "config", o.configPath, "error", err)
			} else {
				s.log.Info("reloaded", "config", o.configPath)
			}
		}
	}
}
