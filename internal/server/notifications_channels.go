package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
)

// channelAgreement is what a replica needs to keep the notification
// channels of every replica on one store the same (issue 23): a replica
// whose config lacks a channel must not give up, nor plan without, that
// channel's deliveries. The replica that applies a config records its
// channel names in the store (store.ChannelSet); a replica that starts
// with other channels while replicas with the recorded ones run refuses to
// start, naming the difference; a running replica whose channels no longer
// match (another replica applied new ones) plans, sends and gives up
// nothing until it is given them (notify.Feed).
type channelAgreement struct {
	// replica is this replica's id, recorded with the channels.
	replica string
	// others lists the other replicas alive now; nil on a store that has
	// one replica (SQLite), where a restart with new channels records them.
	others func(ctx context.Context) ([]string, error)
}

// liveOthers lists the replicas other than self that hold a live shard
// lease now.
func liveOthers(leases store.Leases, self string) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		ls, err := leases.ListLeases(ctx)
		if err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		now, seen := time.Now(), map[string]bool{}
		var out []string
		for _, l := range ls {
			if l.Owner != "" && l.Owner != self && l.ExpiresAt.After(now) && !seen[l.Owner] {
				seen[l.Owner] = true
				out = append(out, l.Owner)
			}
		}
		return out, nil
	}
}

// routeNames are the names of a plan's channels.
func routeNames(plan notify.Plan) []string {
	names := make([]string, 0, len(plan.Routes))
	for _, r := range plan.Routes {
		names = append(names, r.Channel.Name())
	}
	return names
}

// checkChannelsAtStart refuses the channels of cfg, the config a replica
// starts with, when the store records other channels and other replicas
// run: they have the recorded channels, and this replica would disagree
// with them. With no other replica running (or one replica per store, as
// on SQLite), Configure records the new channels instead.
func (ns *notifications) checkChannelsAtStart(ctx context.Context, cfg *config.Config) error {
	if ns.agreement.others == nil {
		return nil
	}
	opts := ns.channels
	opts.Logger = ns.log
	plan, err := notify.PlanFromConfig(cfg, opts)
	if err != nil {
		return fmt.Errorf("notification channels: %w", err)
	}
	defer closeChannels(plan)
	var mm *notify.ChannelMismatchError
	err = ns.feed.CheckChannels(ctx, routeNames(plan))
	if !errors.As(err, &mm) {
		return err
	}
	others, err := ns.agreement.others(ctx)
	if err != nil {
		return fmt.Errorf("notification channels: %w", err)
	}
	if len(others) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to start, nothing applied: %w, and %d other replica(s) run with them (%s). Start this "+
		"replica with the same NotificationChannel documents and policy channels, or change them for every replica: "+
		"apply the new config to a running replica (blackwell apply, or SIGHUP), then restart the others with it",
		mm, len(others), strings.Join(others, ", "))
}

// closeChannels closes the channels of a plan that was only looked at.
func closeChannels(plan notify.Plan) {
	for _, r := range plan.Routes {
		if c, ok := r.Channel.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// recordChannels records names as every replica's channels, giving up the
// pending deliveries of channels that are no longer any replica's.
func (ns *notifications) recordChannels(ctx context.Context, names []string) error {
	gaveUp, err := ns.feed.RecordChannels(ctx, names, ns.agreement.replica)
	if err != nil {
		return fmt.Errorf("record notification channels: %w", err)
	}
	if gaveUp > 0 {
		ns.log.Warn("notifications: pending deliveries of channels no replica has now given up", "deliveries", gaveUp)
	}
	return nil
}

// ChannelMismatch is how this replica's channels differ from the set
// recorded in the store (nil: they agree).
func (s *Server) ChannelMismatch() *notify.ChannelMismatchError {
	return s.notify.feed.ChannelMismatch()
}

// SendsChannel reports whether this replica sends the channel's
// deliveries now.
func (s *Server) SendsChannel(name string) bool { return s.notify.feed.Outbox().Sends(name) }
