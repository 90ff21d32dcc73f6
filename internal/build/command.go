package build

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/provider"
)

// Defaults of CommandOptions.
const (
	DefaultCommandTimeout = 10 * time.Minute
	DefaultMaxOutput      = 64 << 10
)

// CommandOptions configure a CommandRunner.
type CommandOptions struct {
	// Dir is the working directory of builds (default: the process's).
	Dir string
	// Env is the environment of builds (default: the process's).
	Env []string
	// Timeout applies when the binding sets none (default
	// DefaultCommandTimeout).
	Timeout time.Duration
	// MaxOutput bounds the output kept: its last MaxOutput bytes (default
	// DefaultMaxOutput).
	MaxOutput int
}

// CommandRunner runs the binding's build.command locally, with a timeout,
// its combined output captured (the last MaxOutput bytes) and its exit
// status as the outcome.
type CommandRunner struct{ opts CommandOptions }

// NewCommandRunner returns a CommandRunner.
func NewCommandRunner(opts CommandOptions) *CommandRunner {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultCommandTimeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	return &CommandRunner{opts: opts}
}

// Run runs the command and waits for it.
func (c *CommandRunner) Run(ctx context.Context, b provider.Binding) (BuildResult, error) {
	res := BuildResult{Driver: DriverCommand, StartedAt: time.Now()}
	if b.Build == nil || len(b.Build.Command) == 0 || b.Build.Command[0] == "" {
		return res, provider.ConfigError("build of %s/%s has no command", b.ClientID, b.StackID)
	}
	timeout := b.Build.Timeout.D()
	if timeout <= 0 {
		timeout = c.opts.Timeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, b.Build.Command[0], b.Build.Command[1:]...)
	cmd.Dir, cmd.Env = c.opts.Dir, c.opts.Env
	cmd.WaitDelay = 2 * time.Second // a child holding the pipes open cannot hold Run
	out := &tailBuffer{max: c.opts.MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	res.FinishedAt = time.Now()
	res.Output = out.String()
	res.ExitCode = cmd.ProcessState.ExitCode()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		res.Status = StatusSucceeded
		res.Detail = fmt.Sprintf("%s exited 0 after %s", b.Build.Command[0], res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond))
		return res, nil
	case rctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		res.Status = StatusFailed
		res.Detail = fmt.Sprintf("%s timed out after %s", b.Build.Command[0], timeout)
		return res, nil
	case ctx.Err() != nil:
		return res, fmt.Errorf("build command %s: %w", b.Build.Command[0], ctx.Err())
	case errors.As(err, &exitErr):
		res.Status = StatusFailed
		res.Detail = fmt.Sprintf("%s exited %d", b.Build.Command[0], res.ExitCode)
		return res, nil
	default:
		// It did not start (not found, not executable).
		return res, fmt.Errorf("build command: %v", err)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.truncated {
		return "...\n" + string(t.buf)
	}
	return string(t.buf)
}
