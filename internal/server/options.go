package server

import (
	"log/slog"
	"os"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/reconcile"
)

// Options are the settings of a server (serve's flags, and the demo's).
type Options struct {
	// ConfigPath is applied at Start and on Reload; empty: none.
	ConfigPath string
	// ConfigRequired: a missing config file is an error (it was named
	// explicitly); otherwise the server runs on what the store holds.
	ConfigRequired bool
	Listen         string
	// StoreURL is sqlite://PATH (or a bare path) or postgres://...
	// (OpenStore).
	StoreURL string
	// PublicURL is this server's public address, used in webhook
	// subscriptions; empty: http(s)://LISTEN.
	PublicURL string
	// Workers is how many passes run at once (default 64; 8 on a
	// DynamoDB store: every pass's commit moves its one stream head, so
	// more passes at once only cancel each other's transactions).
	Workers int
	// ShutdownTimeout bounds Shutdown (default 10s): passes in flight are
	// then abandoned.
	ShutdownTimeout time.Duration
	// EventTTLSweep is how often the retention sweep runs (default 1m).
	EventTTLSweep time.Duration
	// HistoryRetention bounds how long reconciliation results are kept
	// (default 7 days: 10,000 stacks every 5 minutes write 2.9M a day).
	HistoryRetention time.Duration
	// AuditRetention bounds how long audit entries are kept (0: for ever);
	// older ones are pruned behind a checkpoint signed with AuditKeyFile
	// (audit.go).
	AuditRetention time.Duration
	AuditKeyFile   string
	// AuditSignInterval is how often the chain's head is signed with
	// AuditKeyFile when it moved (0: never; audit.go).
	AuditSignInterval time.Duration
	// EventRetention is how long events are kept (their ttl_timestamp).
	EventRetention time.Duration
	// StreamRetention and StreamMaxRows bound the store's stream log, the
	// events of /v1/stream that a reconnecting client can be replayed
	// (defaults 24 hours and 500,000 events, whichever is less).
	StreamRetention time.Duration
	StreamMaxRows   int64
	// WebhookMaxBody and WebhookMaxInFlight bound webhook deliveries: a
	// larger body is 413, more at once is 429.
	WebhookMaxBody     int64
	WebhookMaxInFlight int
	// WebhookTriggerEvery paces the passes deliveries ask for, per stack.
	WebhookTriggerEvery time.Duration
	// Heal tunes heal execution (tests shorten the breaker and approval
	// timings); its Actions are always the drivers' and the builder's.
	Heal reconcile.HealOptions
	// LeaseTTL is how long a replica's heartbeat and shard leases last
	// without renewal.
	LeaseTTL time.Duration
	// PprofListen, when set, serves net/http/pprof there (pprof.go).
	PprofListen string
	// BootstrapTokenFile is where the bootstrap token is written while the
	// store holds no API token (bootstrap.go); empty: it is kept in memory
	// only (BootstrapToken, for tests).
	BootstrapTokenFile string
	// AllowedHosts are more host names writes may name in Host and Origin
	// (besides loopback, the listen host and the public URL's host).
	AllowedHosts []string
	// MetricsAuth makes /metrics need a viewer token.
	MetricsAuth bool
	// Replica lets this server share a SQLite store another serve holds
	// (store_lock_unix.go); without it the second one is refused.
	Replica bool
	// EncryptionKeyFile seals stored webhook payloads and notification
	// bodies with its keys (internal/seal); a store holding sealed data
	// is refused without it.
	EncryptionKeyFile string
	// ReadTimeout bounds reading a whole request (0: 30s); tests shorten
	// it.
	ReadTimeout time.Duration
	// NotifyChannels are the endpoints and TLS roots notification channels
	// use instead of the real services' (the demo's local receivers).
	NotifyChannels notify.ChannelOptions
	// TLSCert and TLSKey, both or neither, serve HTTPS (tls.go).
	TLSCert, TLSKey string
	// Egress is the operator's egress allowlist (--egress-allow), checked
	// by every connection made for stacks and channels; nil allows all.
	Egress *egress.Policy
	// RDAPBase is the RDAP server the domain_expiry forecast asks for the
	// registration of the stacks' resource domains (its URL up to
	// "/domain/", for example https://rdap.org); empty asks none.
	RDAPBase string
	// Rules are what the operator's config file may declare (the tenancy
	// flags); ClientSecretPrefix names the variables a client-scoped
	// token may refer to.
	Rules              config.Rules
	ClientSecretPrefix string

	// Version is shown by the API and logged at start.
	Version string
	// Logger receives the server's log (default: JSON on stderr).
	Logger *slog.Logger
	// Getenv reads the secrets that config documents refer to (default
	// os.LookupEnv).
	Getenv func(string) (string, bool)
}

// withDefaults fills what was left unset.
func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.LookupEnv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.EventTTLSweep <= 0 {
		o.EventTTLSweep = time.Minute
	}
	if o.HistoryRetention <= 0 {
		o.HistoryRetention = 7 * 24 * time.Hour
	}
	if o.StreamRetention <= 0 {
		o.StreamRetention = 24 * time.Hour
	}
	if o.StreamMaxRows <= 0 {
		o.StreamMaxRows = 500_000
	}
	return o
}
