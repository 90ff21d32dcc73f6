// Package api serves blackwell's REST API (/v1), health endpoints, metrics
// and the OpenAPI document.
package api

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Reconciler is what the API needs of the reconcile loop.
type Reconciler interface {
	// Trigger asks for a pass of the stack soon; passes are coalesced per
	// stack. trigger names why ("manual", "api", "alert").
	Trigger(clientID, stackID, trigger string)
	// ReconcileWait triggers a pass and waits for the result of a pass that
	// started after the call, or for ctx to end.
	ReconcileWait(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error)
	// InFlight reports whether a pass of the stack is running now (the API
	// shows such a stack as "reconciling").
	InFlight(clientID, stackID string) bool
}

// Options wire a Server.
type Options struct {
	Store      store.Store
	State      *state.Service
	Reconciler Reconciler
	// Rollbacks rolls stacks back across providers (internal/rollback);
	// nil: a rollback restores the desired state only.
	Rollbacks *rollback.Service
	// Metrics serves /metrics (promhttp.HandlerFor the registry).
	Metrics http.Handler
	// Gatherer is that registry, read by the dashboards (queue depth,
	// passes in flight, event lag, error counters); nil shows them as no
	// data.
	Gatherer prometheus.Gatherer
	// Ready reports whether the server can do its job (store reachable,
	// loop running); /readyz answers 503 with the error otherwise.
	Ready   func(ctx context.Context) error
	Logger  *slog.Logger
	Version string
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Getenv resolves ${VAR} secret references in configuration posted to
	// the API (default os.LookupEnv).
	Getenv func(string) (string, bool)
	// Webhooks receives provider webhooks (the ingest gateway); nil answers
	// 503 on the webhook routes.
	Webhooks WebhookReceiver
	// AuditPublicKey is the public half of the key that signs audit
	// checkpoints (serve --audit-key-file), shown by GET
	// /v1/audit/checkpoint so that audit verify can check them; nil when
	// the server prunes nothing.
	AuditPublicKey ed25519.PublicKey
	// EventRetention and HistoryRetention are the server's retention of
	// events and reconciliation results (serve --event-retention,
	// --history-retention), reported in stack answers where a policy sets
	// none; zero reports none.
	EventRetention   time.Duration
	HistoryRetention time.Duration
	// Promotions plans and starts promotions; nil answers 503 on
	// POST .../promotions.
	Promotions Promotions
	// Events feeds GET /v1/stream; nil answers 503 there.
	Events *bus.Bus
	// StreamHeartbeat is how often an idle stream gets a comment line
	// (default 15s).
	StreamHeartbeat time.Duration
	// BootstrapToken, when not empty, is accepted as an unscoped admin
	// token while the store holds no API token (serve makes one at start
	// and writes it to --bootstrap-token-file); it stops working when the
	// first token is created. Empty: no caller can act before a token is
	// created on the store.
	BootstrapToken string
	// AllowedHosts are the host names (normalised by AllowedHost) that a
	// state-changing request may name in Host and Origin, besides loopback
	// names (guard.go): serve passes the listen address's host, the
	// --public-url host and --allowed-hosts.
	AllowedHosts []string
	// MetricsAuth makes /metrics need a viewer token (serve
	// --metrics-auth); by default it is public.
	MetricsAuth bool
	// MaxConfigParses bounds the configurations parsed at once (POST
	// /v1/config, PATCH of a stack, PUT of a policy; default 2); a request
	// waits up to 2s for a turn, then is answered 503 with
	// Retry-After.
	MaxConfigParses int
	// OnConfig, when set, is called with every configuration applied
	// through POST /v1/config (the server rebuilds its notification
	// channels from it).
	OnConfig func(ctx context.Context, cfg *config.Config) error
	// CheckConfig, when set, is called with every configuration posted to
	// POST /v1/config before anything of it is applied: it builds what
	// OnConfig would (the notification channels) without starting it, so
	// that a document failing there is refused whole, nothing written.
	CheckConfig func(ctx context.Context, cfg *config.Config) error
	// Egress is the operator's egress allowlist (serve --egress-allow):
	// targets it lists are allowed to client-scoped writes (egress.go).
	// Resolver looks their hosts up (default: the system's).
	Egress   *egress.Policy
	Resolver egress.Resolver

	// The rules of documents sent to the API (config.Rules; docs/SECURITY.md,
	// "Tenants"). CredentialHosts are the hosts credentials may be sent to
	// over plain http or, by a client-scoped token, anew (serve
	// --credential-hosts).
	CredentialHosts config.HostPatterns
	// ClientSecretPrefix is the template of the variable names a scoped
	// token's client owns (serve --client-secret-prefix, holding
	// {CLIENT}); "" gives scoped tokens no variables of their own.
	ClientSecretPrefix string
	// Destinations names the origins a binding's credentials are sent to
	// (its provider driver's and its build's). A client-scoped token may
	// not add one the stored desired state does not hold. Nil: scoped
	// tokens may not change a stack at all.
	Destinations func(clientID, stackID, role string, spec config.StackSpec) []string
}

// WebhookReceiver receives one provider delivery at
// /v1/webhooks/{provider}/{client_id}[/{stack_id}]. It writes the success
// answer itself, or returns an error; an error with HTTPStatus and
// ErrorCode methods (and optionally RetryAfter) is answered with that
// status and code. *ingest.Gateway implements it.
type WebhookReceiver interface {
	ServeWebhook(w http.ResponseWriter, r *http.Request, provider, clientID, stackID string) error
}
