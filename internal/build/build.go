// Package build triggers the static-site builds of a stack's ssg binding:
// a build hook URL (Netlify, Vercel, Cloudflare Pages), a local command, or
// an AWS CodeBuild project. A Builder runs a build, waits for its outcome
// and records it as a build.succeeded or build.failed event, which is what
// the reconcile pass reads for content_stale (the last successful build)
// and for naming a failed build as the cause of other drift.
package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/redact"
	"github.com/blackwellio/blackwell/internal/store"
)

// The build drivers of config.Build.Driver.
const (
	DriverHook      = "hook"
	DriverCommand   = "command"
	DriverCodeBuild = "codebuild"
)

// The event types a Builder records; the reconcile pass reads them.
const (
	EventSucceeded = "build.succeeded"
	EventFailed    = "build.failed"
)

// DefaultEventTTL is how long a build event is kept.
const DefaultEventTTL = 30 * 24 * time.Hour

// Status is a build's outcome.
type Status string

// The outcomes.
const (
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
)

// ErrNoBuild: the binding declares no build.
var ErrNoBuild = errors.New("binding declares no build")

// BuildResult is the outcome of one build.
type BuildResult struct {
	Driver string `json:"driver"`
	// ID is the provider's id of the build when it gives one (Vercel's
	// job id, Cloudflare's deployment id, CodeBuild's build id).
	ID string `json:"id,omitempty"`
	// SourceVersion is the commit the build ran, where the driver says
	// (CodeBuild's resolvedSourceVersion).
	SourceVersion string    `json:"source_version,omitempty"`
	Status        Status    `json:"status"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	// Detail says what happened, sanitised (no hook URL, no secret).
	Detail string `json:"detail,omitempty"`
	// ExitCode and Output are the command driver's.
	ExitCode int    `json:"exit_code,omitempty"`
	Output   string `json:"output,omitempty"`
}

// Runner runs one build of a binding and waits for its outcome. A build
// that ran and failed is a result with StatusFailed and a nil error; an
// error means the build could not be started or followed.
type Runner interface {
	Run(ctx context.Context, b provider.Binding) (BuildResult, error)
}

// SourceRunner is a Runner that can build an earlier source version (a
// commit): CodeBuild's StartBuild sourceVersion.
type SourceRunner interface {
	RunSource(ctx context.Context, b provider.Binding, sourceVersion string) (BuildResult, error)
}

// EventSink records events; store.Store implements it.
type EventSink interface {
	InsertEvents(ctx context.Context, in []store.Event) ([]bool, error)
}

// BuilderOptions configure a Builder.
type BuilderOptions struct {
	// Events receives the build events.
	Events EventSink
	// Runners by driver name (hook, command, codebuild).
	Runners map[string]Runner
	// OnRecorded is called after a build event was recorded (to trigger a
	// pass of the stack).
	OnRecorded func(clientID, stackID string)
	// EventTTL is how long build events are kept (default DefaultEventTTL).
	EventTTL time.Duration
	Logger   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Builder runs builds of stacks and records their outcome. Concurrent
// Triggers of one stack share the build in flight. It is safe for
// concurrent use.
type Builder struct {
	opts BuilderOptions
	log  *slog.Logger

	mu       sync.Mutex
	inflight map[string]*buildCall
}

type buildCall struct {
	done chan struct{}
	res  BuildResult
	err  error
}

// NewBuilder returns a Builder.
func NewBuilder(opts BuilderOptions) *Builder {
	if opts.EventTTL <= 0 {
		opts.EventTTL = DefaultEventTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Builder{opts: opts, log: log, inflight: map[string]*buildCall{}}
}

// Trigger runs a build of the binding (the stack's ssg binding, secrets
// resolved), waits for its outcome and records it as an event with
// provider_name = the binding's name. A Trigger while a build of the same
// stack runs waits for that build and returns its result. The error is
// the run's (the failure is recorded too) or the recording's.
func (b *Builder) Trigger(ctx context.Context, binding provider.Binding) (BuildResult, error) {
	return b.TriggerSource(ctx, binding, "")
}

// TriggerSource is Trigger of an earlier source version (empty: the
// head, as Trigger): a rollback re-runs the commit a known-good build
// ran. Only a driver that is a SourceRunner (codebuild) can; others fail.
func (b *Builder) TriggerSource(ctx context.Context, binding provider.Binding, sourceVersion string) (BuildResult, error) {
	if binding.Build == nil {
		return BuildResult{}, ErrNoBuild
	}
	key := binding.ClientID + "/" + binding.StackID
	b.mu.Lock()
	if c, ok := b.inflight[key]; ok {
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.res, c.err
		case <-ctx.Done():
			return BuildResult{}, ctx.Err()
		}
	}
	c := &buildCall{done: make(chan struct{})}
	b.inflight[key] = c
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.inflight, key)
		b.mu.Unlock()
		close(c.done)
	}()
	c.res, c.err = b.run(ctx, binding, sourceVersion)
	return c.res, c.err
}

func (b *Builder) run(ctx context.Context, binding provider.Binding, sourceVersion string) (BuildResult, error) {
	driver := binding.Build.Driver
	started := b.opts.Now()
	r, ok := b.opts.Runners[driver]
	sr, canSource := r.(SourceRunner)
	var res BuildResult
	var runErr error
	switch {
	case !ok:
		runErr = fmt.Errorf("build driver %q: not available", driver)
	case sourceVersion == "":
		res, runErr = r.Run(ctx, binding)
	case !canSource:
		runErr = fmt.Errorf("build driver %q cannot build an earlier source version (%s)", driver, sourceVersion)
	default:
		res, runErr = sr.RunSource(ctx, binding, sourceVersion)
	}
	res.Driver = driver
	if res.StartedAt.IsZero() {
		res.StartedAt = started
	}
	if res.FinishedAt.IsZero() {
		res.FinishedAt = b.opts.Now()
	}
	if runErr != nil {
		res.Status = StatusFailed
		if res.Detail == "" {
			res.Detail = redact.Text(runErr.Error())
		}
	}
	if res.Status == "" {
		res.Status = StatusFailed
	}
	if err := b.record(ctx, binding, res); err != nil {
		return res, errors.Join(runErr, err)
	}
	log := b.log.With("client_id", binding.ClientID, "stack_id", binding.StackID, "provider", binding.Name, "driver", driver)
	if res.Status == StatusSucceeded {
		log.Info("build succeeded", "build_id", res.ID, "duration", res.FinishedAt.Sub(res.StartedAt))
	} else {
		log.Warn("build failed", "build_id", res.ID, "detail", res.Detail)
	}
	return res, runErr
}

// record inserts the build's event, whatever the run's context became.
func (b *Builder) record(ctx context.Context, binding provider.Binding, res BuildResult) error {
	if b.opts.Events == nil {
		return nil
	}
	typ := EventFailed
	if res.Status == StatusSucceeded {
		typ = EventSucceeded
	}
	id := res.ID
	if id == "" {
		id = uuid.NewString()
	}
	payload := res
	payload.Output = redact.Text(tail(res.Output, 4<<10))
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode build event: %w", err)
	}
	now := b.opts.Now()
	ev := store.Event{
		EventID:  "build:" + binding.ClientID + ":" + binding.StackID + ":" + res.Driver + ":" + id,
		ClientID: binding.ClientID, StackID: binding.StackID, ProviderName: binding.Name,
		EventType: typ, ContentID: id, Timestamp: res.FinishedAt, Payload: raw,
		ReceivedAt: now, TTLTimestamp: now.Add(b.opts.EventTTL).Unix(),
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := b.opts.Events.InsertEvents(wctx, []store.Event{ev}); err != nil {
		return fmt.Errorf("record %s of %s/%s: %w", typ, binding.ClientID, binding.StackID, err)
	}
	if b.opts.OnRecorded != nil {
		b.opts.OnRecorded(binding.ClientID, binding.StackID)
	}
	return nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
