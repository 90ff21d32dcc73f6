package rollback

import (
	"log/slog"
	"time"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/heal"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

// Parts are what a reconcile loop is wired with for snapshots and pins:
// heal actions that rebuild a pinned stack toward its snapshot, and the
// recorder of known-good snapshots (reconcile.Options.Snapshots).
type Parts struct {
	Pins     *Pins
	Actions  *heal.Actions
	Capturer *Capturer
	Recorder *Recorder
}

// NewParts wires Parts over the store, the provider registry, the
// builder and a host deploy client; receiverPrefix and onRecreated (nil
// for none) are the heal actions' (heal.Options).
func NewParts(st store.Store, reg *provider.Registry, b *build.Builder, d Deployer, receiverPrefix string,
	onRecreated func(provider, clientID, topic string, at time.Time), log *slog.Logger,
) Parts {
	pins := &Pins{Store: st, Deployer: d, Builder: b}
	actions := heal.New(heal.Options{Registry: reg, Builder: b, Pins: pins, ReceiverPrefix: receiverPrefix, OnRecreated: onRecreated})
	capt := &Capturer{Registry: reg, Heal: actions, Deployer: d, Events: st}
	return Parts{Pins: pins, Actions: actions, Capturer: capt, Recorder: &Recorder{Store: st, Capturer: capt, Logger: log}}
}
