package rollback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

// The outcomes of a step (store.RollbackStep.Outcome).
const (
	OutcomePending   = "pending"
	OutcomeRestored  = "restored"
	OutcomeUnchanged = "unchanged"
	OutcomeSkipped   = "skipped"
	OutcomeFailed    = "failed"
)

// Pins restores recorded builds: the build step of a rollback, and the
// rebuild of a pinned stack (heal.Pins). It is safe for concurrent use.
type Pins struct {
	Store    store.Store
	Deployer Deployer
	Builder  SourceBuilder
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var _ interface {
	RebuildPinned(ctx context.Context, b provider.Binding) (string, bool, error)
} = (*Pins)(nil)

// RestoreBuild makes the recorded build run again: the host's recorded
// deployment made live (unchanged when it is live already, unless
// republish: a heal publishes it again), or a build of the recorded
// source version (CodeBuild).
func (p *Pins) RestoreBuild(ctx context.Context, b provider.Binding, want store.BuildSnapshot, republish bool) (string, string, error) {
	if b.Build == nil {
		return OutcomeFailed, "", fmt.Errorf("the stack declares no build now")
	}
	switch {
	case want.DeployID != "":
		if b.Build.Deploy == nil || p.Deployer == nil {
			return OutcomeFailed, "", fmt.Errorf("the build names no deploy API (build.deploy) to restore deployment %s with", want.DeployID)
		}
		d := *b.Build.Deploy
		live, err := p.Deployer.Live(ctx, d)
		if err != nil {
			return OutcomeFailed, "", fmt.Errorf("read the live deployment: %w", err)
		}
		if live.ID == want.DeployID && !republish {
			return OutcomeUnchanged, d.Host + " deployment " + want.DeployID + " is live", nil
		}
		if err := p.Deployer.Restore(ctx, d, want.DeployID); err != nil {
			return OutcomeFailed, "", err
		}
		return OutcomeRestored, fmt.Sprintf("%s deployment %s live again (was %s)", d.Host, want.DeployID, live.ID), nil
	case want.SourceVersion != "" && b.Build.Driver == build.DriverCodeBuild:
		if p.Builder == nil {
			return OutcomeFailed, "", errors.New("no builder")
		}
		res, err := p.Builder.TriggerSource(ctx, b, want.SourceVersion)
		if err != nil {
			return OutcomeFailed, "", fmt.Errorf("build source version %s: %w", want.SourceVersion, err)
		}
		if res.Status != build.StatusSucceeded {
			return OutcomeFailed, "", fmt.Errorf("build of source version %s %s: %s", want.SourceVersion, res.Status, res.Detail)
		}
		return OutcomeRestored, fmt.Sprintf("codebuild built source version %s again (%s)", want.SourceVersion, res.ID), nil
	}
	return OutcomeSkipped, "", errNothing
}

// RebuildPinned is heal.Pins: a stack under an active hold whose snapshot
// recorded its build gets that build back instead of a build of the
// newest source.
func (p *Pins) RebuildPinned(ctx context.Context, b provider.Binding) (string, bool, error) {
	rec, err := p.Store.GetState(ctx, b.ClientID, b.StackID)
	if err != nil {
		return "", false, fmt.Errorf("read stack %s/%s: %w", b.ClientID, b.StackID, err)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if !rec.Hold.Active(now()) || rec.Hold.Snapshot == "" {
		return "", false, nil
	}
	snap, err := p.Store.GetSnapshot(ctx, rec.Hold.Snapshot)
	if errors.Is(err, store.ErrNotFound) || (err == nil && snap.Components.Build == nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	outcome, detail, err := p.RestoreBuild(ctx, b, *snap.Components.Build, true)
	if errors.Is(err, errNothing) {
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	return fmt.Sprintf("pinned at %s by a rollback hold: %s (%s)", rec.Hold.Version, detail, outcome), true, nil
}
