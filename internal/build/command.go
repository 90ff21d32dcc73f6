package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
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
	// Path is the PATH of builds (default: the server's PATH, else
	// DefaultPath). A build never inherits the server's environment: it
	// gets PATH, HOME and TMPDIR (a directory of its own, removed after),
	// LANG, and the binding's build.env (MinimalEnv).
	Path string
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
	if opts.Path == "" {
		opts.Path = os.Getenv("PATH")
	}
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	return &CommandRunner{opts: opts}
}

// DefaultPath is the PATH of builds when the server has none.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// MinimalEnv is the whole environment of a build: PATH, HOME and TMPDIR
// (home, a directory of the build's own), LANG (C.UTF-8), then the
// binding's build.env, resolved, which may replace any of them. Nothing of
// the server's environment is passed on, so a build cannot print the
// server's secrets (or other clients') into its output.
func MinimalEnv(path, home string, extra map[string]config.Secret) []string {
	env := map[string]string{"PATH": path, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8"}
	for k, v := range extra {
		env[k] = v.Value()
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
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
	for k, v := range b.Build.Env {
		if !v.Resolved() {
			return res, provider.ConfigError("build of %s/%s: build.env.%s (%s) is unresolved", b.ClientID, b.StackID, k, v.Ref)
		}
	}
	home, err := os.MkdirTemp("", "blackwell-build-")
	if err != nil {
		return res, fmt.Errorf("build command: home directory: %w", err)
	}
	defer os.RemoveAll(home)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, b.Build.Command[0], b.Build.Command[1:]...)
	cmd.Dir, cmd.Env = c.opts.Dir, MinimalEnv(c.opts.Path, home, b.Build.Env)
	cmd.WaitDelay = 2 * time.Second // a child holding the pipes open cannot hold Run
	out := &tailBuffer{max: c.opts.MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
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

// Disabled is a Runner that refuses every build of its driver, saying why:
// the server registers it for driver command unless serve
// --allow-command-builds, so that a command build stored earlier fails
// with that reason instead of running.
type Disabled struct{ Reason string }

// Run refuses the build.
func (d Disabled) Run(_ context.Context, b provider.Binding) (BuildResult, error) {
	return BuildResult{Detail: d.Reason}, provider.ConfigError("build of %s/%s: %s", b.ClientID, b.StackID, d.Reason)
}

// Destinations returns the origins (scheme://host[:port]) a build sends
// its credentials to: the hook URL (itself a secret; resolved), the
// CodeBuild endpoint (signed with the server's AWS credentials); none for
// a command or an unresolved hook. A CodeBuild build without endpoint and
// region goes to the server's own region, named "codebuild:default".
func Destinations(b *config.Build) []string {
	if b == nil {
		return nil
	}
	var u string
	switch b.Driver {
	case DriverHook:
		if !b.URL.Resolved() {
			return nil
		}
		u = b.URL.Value()
	case DriverCodeBuild:
		switch {
		case b.Endpoint != "":
			u = b.Endpoint
		case b.Region != "":
			u = "https://codebuild." + b.Region + ".amazonaws.com"
		default:
			return []string{"codebuild:default"}
		}
	}
	if o := provider.Origin(u); o != "" {
		return []string{o}
	}
	return nil
}
