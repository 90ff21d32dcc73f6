package server

import (
	"context"
	"fmt"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/notify"
)

// CheckChannels builds the notification channels of cfg (and the
// dispatcher that would route to them) without starting anything, so that
// a config the channels would refuse (a webhook secret that is not
// whsec_..., a NATS subject with a wildcard, a variable that resolved to
// something unusable) is refused before any of it is written. Applying is
// all or nothing: serve at start, SIGHUP and POST /v1/config all check
// first (issue 21, item 1), and blackwell validate with the secrets as
// resolved where it runs.
func CheckChannels(cfg *config.Config, opts notify.ChannelOptions) error {
	plan, err := notify.PlanFromConfig(cfg, opts)
	if err != nil {
		return fmt.Errorf("notification channels: %w", err)
	}
	if _, err := notify.NewDispatcher(plan.Routes, notify.DispatcherOptions{}); err != nil {
		return fmt.Errorf("notification dispatcher: %w", err)
	}
	return nil
}

// Check builds cfg's channels as Configure would, without starting them
// (api.Options.CheckConfig).
func (ns *notifications) Check(_ context.Context, cfg *config.Config) error {
	opts := ns.channels
	opts.Logger = ns.log
	return CheckChannels(cfg, opts)
}
