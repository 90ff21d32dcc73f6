package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	bwserver "github.com/blackwellio/blackwell/internal/server"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// serverOptions are the flags of serve (and the settings of demo) that
// become a server.Options (internal/server, where each is documented).
type serverOptions struct {
	configPath string
	// configRequired: a missing config file is an error (it was named
	// explicitly); otherwise the server runs on what the store holds.
	configRequired      bool
	listen              string
	storeURL            string
	publicURL           string
	workers             int
	rdapBase            string
	shutdownTimeout     time.Duration
	eventTTLSweep       time.Duration
	historyRetention    time.Duration
	auditRetention      time.Duration
	auditKeyFile        string
	auditSignInterval   time.Duration
	eventRetention      time.Duration
	webhookMaxBody      int64
	webhookMaxInFlight  int
	webhookTriggerEvery time.Duration
	heal                reconcile.HealOptions
	leaseTTL            time.Duration
	pprofListen         string
	// bootstrapTokenFile is where the bootstrap token is written while the
	// store holds no API token (bootstrap.go); empty: it is kept in memory
	// only (server.bootstrapToken, for tests).
	bootstrapTokenFile string
	allowedHosts       []string
	metricsAuth        bool
	readTimeout        time.Duration // tests shorten it
	notifyChannels     notify.ChannelOptions
	tlsCert, tlsKey    string
	egress             *egress.Policy

	logLevel slog.Level
	// replica lets this server share a SQLite store another serve holds;
	// without it the second one is refused (internal/server/store_lock*.go).
	replica bool
	logOut  io.Writer
	getenv  func(string) (string, bool)
	// tenancy: command builds, credential hosts, client variable names
	// (tenancy.go).
	tenancy tenancyFlags
	// encryptionKeyFile seals stored payloads (sealing.go).
	encryptionKeyFile string
}

// options turns the flags into the server's Options.
func (o serverOptions) options() (bwserver.Options, error) {
	rules, err := o.tenancy.fileRules()
	if err != nil {
		return bwserver.Options{}, err
	}
	logOut := o.logOut
	if logOut == nil {
		logOut = os.Stderr
	}
	return bwserver.Options{
		ConfigPath: o.configPath, ConfigRequired: o.configRequired,
		Listen: o.listen, StoreURL: o.storeURL, PublicURL: o.publicURL,
		Workers: o.workers, ShutdownTimeout: o.shutdownTimeout,
		EventTTLSweep: o.eventTTLSweep, HistoryRetention: o.historyRetention,
		AuditRetention: o.auditRetention, AuditKeyFile: o.auditKeyFile, AuditSignInterval: o.auditSignInterval,
		EventRetention: o.eventRetention,
		WebhookMaxBody: o.webhookMaxBody, WebhookMaxInFlight: o.webhookMaxInFlight, WebhookTriggerEvery: o.webhookTriggerEvery,
		Heal: o.heal, LeaseTTL: o.leaseTTL, PprofListen: o.pprofListen,
		BootstrapTokenFile: o.bootstrapTokenFile, AllowedHosts: o.allowedHosts, MetricsAuth: o.metricsAuth,
		EncryptionKeyFile: o.encryptionKeyFile, Replica: o.replica, RDAPBase: o.rdapBase,
		ReadTimeout:    o.readTimeout,
		NotifyChannels: o.notifyChannels, TLSCert: o.tlsCert, TLSKey: o.tlsKey, Egress: o.egress,
		Rules: rules, ClientSecretPrefix: o.tenancy.clientSecretPrefix,
		Version: buildVersion(),
		Logger:  slog.New(slog.NewJSONHandler(logOut, logOptions(o.logLevel))),
		Getenv:  o.getenv,
	}, nil
}

// server is a running internal/server.Server, with the parts the demo,
// serve's signal handling and the tests reach for.
type server struct {
	*bwserver.Server
	store store.Store
	state *state.Service
	loop  *reconcile.Reconciler
	log   *slog.Logger
	// bootstrapToken acts as an admin token until the first API token is
	// created; empty once one exists.
	bootstrapToken string
}

// startServer assembles and starts a server (internal/server); Shutdown
// stops it. A start that fails stops what it had started.
func startServer(ctx context.Context, o serverOptions) (*server, error) {
	opts, err := o.options()
	if err != nil {
		return nil, err
	}
	s, err := bwserver.New(ctx, opts)
	if err != nil {
		return nil, cliError(err)
	}
	if err := s.Start(ctx); err != nil {
		return nil, cliError(err)
	}
	return &server{Server: s, store: s.Store(), state: s.State(), loop: s.Loop(), log: s.Logger(), bootstrapToken: s.BootstrapToken()}, nil
}

func (s *server) dashboardURL() string { return s.DashboardURL() }

// cliError marks the server's errors in its options (server.UsageError)
// as usage errors (exit 2).
func cliError(err error) error {
	var ue bwserver.UsageError
	if errors.As(err, &ue) {
		return usageError{err}
	}
	return err
}

// openStore opens the store named by a URL (server.OpenStore).
func openStore(ctx context.Context, url string) (store.Store, error) {
	st, err := bwserver.OpenStore(ctx, url)
	return st, cliError(err)
}

// newProviderRegistry is server.NewProviderRegistry (reconcile --once).
func newProviderRegistry(getenv func(string) (string, bool), log *slog.Logger, eg *egress.Policy) *provider.Registry {
	return bwserver.NewProviderRegistry(getenv, log, eg)
}

// newBuilder is server.NewBuilder (demo, reconcile --once).
func newBuilder(events build.EventSink, getenv func(string) (string, bool), log *slog.Logger, allowCommands bool, onRecorded func(clientID, stackID string), eg *egress.Policy) *build.Builder {
	return bwserver.NewBuilder(events, getenv, log, allowCommands, onRecorded, eg)
}
