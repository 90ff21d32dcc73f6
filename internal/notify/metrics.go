package notify

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// The results of blackwell_notifications_total.
const (
	ResultSent       = "sent"       // the receiver accepted a delivery
	ResultRetried    = "retried"    // an attempt failed and another is scheduled
	ResultFailed     = "failed"     // a delivery was given up (permanent error or attempts spent)
	ResultDropped    = "dropped"    // the channel's queue was full
	ResultSuppressed = "suppressed" // the channel's rate limit held a message back (for the digest)
)

// Results lists the results, in the order above.
var Results = []string{ResultSent, ResultRetried, ResultFailed, ResultDropped, ResultSuppressed}

// Metrics records notification outcomes as
// blackwell_notifications_total{channel,result}.
type Metrics struct {
	total *prometheus.CounterVec
}

// NewMetrics registers the notification metrics on reg (nil: not
// registered, for tests). Registering twice on one registry reuses the
// first collector.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_notifications_total",
		Help: "Notification deliveries by channel and result (sent, retried, failed, dropped, suppressed).",
	}, []string{"channel", "result"})
	if reg != nil {
		if err := reg.Register(total); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, err
			}
			total = existing
		}
	}
	return &Metrics{total: total}, nil
}

// initChannel creates every result's series of a channel at 0, so rates
// and alerts see them before the first event.
func (m *Metrics) initChannel(channel string) {
	for _, r := range Results {
		m.total.WithLabelValues(channel, r)
	}
}

func (m *Metrics) inc(channel, result string) {
	m.total.WithLabelValues(channel, result).Inc()
}
