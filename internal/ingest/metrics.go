package ingest

import "github.com/prometheus/client_golang/prometheus"

// Results of a delivery, the result label of
// blackwell_webhook_deliveries_total: accepted and duplicate are
// acknowledged (2xx); the others are the reasons of a rejection.
const (
	ResultAccepted           = "accepted"
	ResultDuplicate          = "duplicate"
	ResultUnknownProvider    = "unknown_provider"
	ResultNotFound           = "not_found"
	ResultUnsupportedMedia   = "unsupported_media_type"
	ResultTooLarge           = "too_large"
	ResultMissingSignature   = "missing_signature"
	ResultBadSignature       = "bad_signature"
	ResultMalformed          = "malformed"
	ResultStale              = "stale"
	ResultOverloaded         = "overloaded"
	ResultStoreUnavailable   = "store_unavailable"
	ResultBindingUnavailable = "bindings_unavailable"
)

var results = []string{
	ResultAccepted, ResultDuplicate, ResultUnknownProvider, ResultNotFound, ResultUnsupportedMedia, ResultTooLarge,
	ResultMissingSignature, ResultBadSignature, ResultMalformed, ResultStale, ResultOverloaded,
	ResultStoreUnavailable, ResultBindingUnavailable,
}

// unknownProvider labels deliveries to a provider name no receiver has, so
// a caller cannot mint label values.
const unknownProvider = "unknown"

// Metrics is the gateway's recorder.
type Metrics struct {
	deliveries *prometheus.CounterVec
	stale      *prometheus.CounterVec
	ack        *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	receiving  prometheus.Gauge
}

// NewMetrics registers the gateway's metrics on reg, with every provider
// and result initialised so dashboards see zeros rather than gaps.
func NewMetrics(reg prometheus.Registerer, providers []string) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blackwell_webhook_deliveries_total",
			Help: "Webhook deliveries by provider and result: accepted, duplicate, or why it was rejected.",
		}, []string{"provider", "result"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blackwell_webhook_stale_deliveries_total",
			Help: "Accepted deliveries of events that fired long before (provider retries of old payloads).",
		}, []string{"provider"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "blackwell_webhook_ack_seconds",
			Help:    "Time from receiving a delivery to acknowledging it (after the durable commit), acknowledged deliveries only.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"provider"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "blackwell_webhook_in_flight",
			Help: "Webhook deliveries being received now (their body read, holding one of --webhook-max-in-flight slots).",
		}),
		receiving: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "blackwell_webhook_receiving",
			Help: "Webhook deliveries whose body is being read (before they take a slot).",
		}),
	}
	reg.MustRegister(m.deliveries, m.stale, m.ack, m.inFlight, m.receiving)
	for _, p := range append(providers, unknownProvider) {
		for _, r := range results {
			m.deliveries.WithLabelValues(p, r)
		}
		m.stale.WithLabelValues(p)
		m.ack.WithLabelValues(p)
	}
	return m
}
