package build_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// events is an EventSink that keeps what it is given.
type events struct {
	mu  sync.Mutex
	got []store.Event
}

func (e *events) InsertEvents(_ context.Context, in []store.Event) ([]bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, in...)
	return make([]bool, len(in)), nil
}

func (e *events) all() []store.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]store.Event(nil), e.got...)
}

type fixture struct {
	builder *build.Builder
	events  *events
}

func setup(t *testing.T, cb *sim.CodeBuild) fixture {
	t.Helper()
	ev := &events{}
	runners := map[string]build.Runner{
		build.DriverHook:    build.NewHookRunner(build.HookOptions{Timeout: 2 * time.Second}),
		build.DriverCommand: build.NewCommandRunner(build.CommandOptions{MaxOutput: 64}),
	}
	if cb != nil {
		id, secret := cb.Credentials()
		runners[build.DriverCodeBuild] = build.NewCodeBuildRunner(build.CodeBuildOptions{
			Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
			PollInterval: 20 * time.Millisecond,
		})
	}
	return fixture{builder: build.NewBuilder(build.BuilderOptions{Events: ev, Runners: runners}), events: ev}
}

func binding(b config.Build) provider.Binding {
	return provider.Binding{ClientID: "acme", StackID: "web", Role: config.RoleSSG, Name: "nextjs", Build: &b}
}

func TestHookFlavoursAreAcceptedAndTheirJobIDsRead(t *testing.T) {
	t.Parallel()
	for _, flavor := range []sim.BuildHookFlavor{sim.FlavorNetlify, sim.FlavorVercel, sim.FlavorCloudflare} {
		t.Run(string(flavor), func(t *testing.T) {
			t.Parallel()
			hook, err := sim.NewBuildHook(sim.BuildHookOptions{Flavor: flavor})
			require.NoError(t, err)
			t.Cleanup(hook.Close)
			f := setup(t, nil)
			res, err := f.builder.Trigger(context.Background(), binding(config.Build{Driver: "hook", URL: config.NewSecret(hook.URL())}))
			require.NoError(t, err)
			require.Equal(t, build.StatusSucceeded, res.Status)
			builds := hook.Builds()
			require.Len(t, builds, 1)
			if flavor == sim.FlavorNetlify {
				require.Empty(t, res.ID, "netlify gives no deploy id")
			} else {
				require.Equal(t, builds[0].ID, res.ID)
			}
			evs := f.events.all()
			require.Len(t, evs, 1)
			require.Equal(t, build.EventSucceeded, evs[0].EventType)
			require.Equal(t, "nextjs", evs[0].ProviderName)
			require.Equal(t, "acme", evs[0].ClientID)
			require.Equal(t, "web", evs[0].StackID)
			require.NotContains(t, string(evs[0].Payload), strings.TrimPrefix(hook.URL(), "http://"), "the hook URL is a secret")
		})
	}
}

func TestRotatedOrFailingHookRecordsAFailedBuildWithoutTheURL(t *testing.T) {
	t.Parallel()
	hook, err := sim.NewBuildHook(sim.BuildHookOptions{})
	require.NoError(t, err)
	t.Cleanup(hook.Close)
	f := setup(t, nil)
	old := hook.URL()
	hook.Rotate()
	res, err := f.builder.Trigger(context.Background(), binding(config.Build{Driver: "hook", URL: config.NewSecret(old)}))
	require.Error(t, err)
	require.Contains(t, err.Error(), "404")
	require.NotContains(t, err.Error(), strings.TrimPrefix(old, "http://127.0.0.1"))
	require.Equal(t, build.StatusFailed, res.Status)
	evs := f.events.all()
	require.Len(t, evs, 1)
	require.Equal(t, build.EventFailed, evs[0].EventType)
	require.NotContains(t, string(evs[0].Payload), "build_hooks/")

	hook.FailServer(1)
	_, err = f.builder.Trigger(context.Background(), binding(config.Build{Driver: "hook", URL: config.NewSecret(hook.URL())}))
	require.ErrorContains(t, err, "500")
}

func TestCommandOutcomeOutputAndTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx := context.Background()
	res, err := f.builder.Trigger(ctx, binding(config.Build{Driver: "command", Command: []string{"sh", "-c", "echo building; echo done"}}))
	require.NoError(t, err)
	require.Equal(t, build.StatusSucceeded, res.Status)
	require.Equal(t, "building\ndone\n", res.Output)

	res, err = f.builder.Trigger(ctx, binding(config.Build{Driver: "command", Command: []string{"sh", "-c", "for i in $(seq 1 100); do echo line $i; done; exit 3"}}))
	require.NoError(t, err, "a failed build is an outcome, not an error")
	require.Equal(t, build.StatusFailed, res.Status)
	require.Equal(t, 3, res.ExitCode)
	require.LessOrEqual(t, len(res.Output), 64+4, "output is bounded")
	require.Contains(t, res.Output, "line 100")

	began := time.Now()
	res, err = f.builder.Trigger(ctx, binding(config.Build{Driver: "command", Command: []string{"sleep", "30"}, Timeout: config.Duration(200 * time.Millisecond)}))
	require.NoError(t, err)
	require.Equal(t, build.StatusFailed, res.Status)
	require.Contains(t, res.Detail, "timed out")
	require.Less(t, time.Since(began), 5*time.Second)

	_, err = f.builder.Trigger(ctx, binding(config.Build{Driver: "command", Command: []string{"/nonexistent/builder"}}))
	require.Error(t, err)

	evs := f.events.all()
	require.Len(t, evs, 4)
	var payload build.BuildResult
	require.NoError(t, json.Unmarshal(evs[1].Payload, &payload))
	require.Equal(t, 3, payload.ExitCode)
}

func TestConcurrentTriggersShareOneBuild(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	dir := t.TempDir()
	counter := filepath.Join(dir, "runs")
	b := binding(config.Build{Driver: "command", Command: []string{"sh", "-c", "echo x >> " + counter + "; sleep 0.3"}})
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.builder.Trigger(context.Background(), b)
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	runs, err := os.ReadFile(counter)
	require.NoError(t, err)
	require.Less(t, strings.Count(string(runs), "x"), 5, "triggers during a build join it")
}

func TestCodeBuildStartsAndFollowsABuild(t *testing.T) {
	t.Parallel()
	cb, err := sim.NewCodeBuild(sim.CodeBuildOptions{Projects: []string{"acme-site"}, BuildTime: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(cb.Close)
	f := setup(t, cb)
	b := binding(config.Build{Driver: "codebuild", ProjectName: "acme-site", Region: cb.Region(), Endpoint: cb.URL()})
	ctx := context.Background()

	res, err := f.builder.Trigger(ctx, b)
	require.NoError(t, err)
	require.Equal(t, build.StatusSucceeded, res.Status, res.Detail)
	require.True(t, strings.HasPrefix(res.ID, "acme-site:"))
	require.Len(t, cb.Builds(), 1)

	cb.SetOutcome("FAILED")
	res, err = f.builder.Trigger(ctx, b)
	require.NoError(t, err)
	require.Equal(t, build.StatusFailed, res.Status)
	require.Contains(t, res.Detail, "FAILED in BUILD")

	b.Build.ProjectName = "missing"
	_, err = f.builder.Trigger(ctx, b)
	require.ErrorContains(t, err, "ResourceNotFoundException")

	evs := f.events.all()
	require.Equal(t, []string{build.EventSucceeded, build.EventFailed, build.EventFailed},
		[]string{evs[0].EventType, evs[1].EventType, evs[2].EventType})
}

func TestCodeBuildRejectsABadSignature(t *testing.T) {
	t.Parallel()
	cb, err := sim.NewCodeBuild(sim.CodeBuildOptions{})
	require.NoError(t, err)
	t.Cleanup(cb.Close)
	id, _ := cb.Credentials()
	r := build.NewCodeBuildRunner(build.CodeBuildOptions{
		Credentials: credentials.NewStaticCredentialsProvider(id, "wrong", ""),
	})
	_, err = r.Run(context.Background(), binding(config.Build{Driver: "codebuild", ProjectName: "p", Region: cb.Region(), Endpoint: cb.URL()}))
	require.ErrorContains(t, err, "InvalidSignatureException")
	require.ErrorIs(t, err, provider.ErrUnauthorized)

	// Region from the environment, credentials from the shared file.
	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials")
	_, secret := cb.Credentials()
	require.NoError(t, os.WriteFile(credFile, []byte("[default]\naws_access_key_id = x\n[ci]\naws_access_key_id = "+id+"\naws_secret_access_key = "+secret+"\n"), 0o600))
	env := map[string]string{"AWS_SHARED_CREDENTIALS_FILE": credFile, "AWS_PROFILE": "ci", "AWS_REGION": cb.Region()}
	r = build.NewCodeBuildRunner(build.CodeBuildOptions{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, PollInterval: 10 * time.Millisecond})
	res, err := r.Run(context.Background(), binding(config.Build{Driver: "codebuild", ProjectName: "p", Endpoint: cb.URL()}))
	require.NoError(t, err)
	require.Equal(t, build.StatusSucceeded, res.Status)
}

// TestCodeBuildClassifiesFailures: throttling and server errors are retried
// by the SDK; a refusal by the egress policy is not (nothing is sent); no
// answer is provider.ErrUnreachable; a missing project is an error answer
// but not a refusal of the credentials; no credentials is a config error.
func TestCodeBuildClassifiesFailures(t *testing.T) {
	t.Parallel()
	cb, err := sim.NewCodeBuild(sim.CodeBuildOptions{Projects: []string{"p"}})
	require.NoError(t, err)
	t.Cleanup(cb.Close)
	id, secret := cb.Credentials()
	runner := func(opts build.CodeBuildOptions) *build.CodeBuildRunner {
		opts.Credentials, opts.PollInterval = credentials.NewStaticCredentialsProvider(id, secret, ""), 10*time.Millisecond
		return build.NewCodeBuildRunner(opts)
	}
	b := binding(config.Build{Driver: "codebuild", ProjectName: "p", Region: cb.Region(), Endpoint: cb.URL()})

	cb.RateLimit(0, 1)
	cb.FailServer(1)
	before := cb.Requests()
	res, err := runner(build.CodeBuildOptions{}).Run(t.Context(), b)
	require.NoError(t, err)
	require.Equal(t, build.StatusSucceeded, res.Status)
	require.GreaterOrEqual(t, cb.Requests()-before, int64(4), "StartBuild throttled, then failed, then accepted; one BatchGetBuilds")

	refusing, err := egress.Parse("public")
	require.NoError(t, err)
	before = cb.Requests()
	_, err = runner(build.CodeBuildOptions{HTTPClient: refusing.HTTPClient()}).Run(t.Context(), b)
	require.ErrorIs(t, err, egress.ErrRefused)
	require.Equal(t, before, cb.Requests(), "nothing was sent")

	gone := b
	gone.Build = &config.Build{Driver: "codebuild", ProjectName: "p", Region: cb.Region(), Endpoint: "http://127.0.0.1:1"}
	_, err = runner(build.CodeBuildOptions{RequestTimeout: 10 * time.Second}).Run(t.Context(), gone)
	require.ErrorIs(t, err, provider.ErrUnreachable)

	missing := b
	missing.Build = &config.Build{Driver: "codebuild", ProjectName: "nope", Region: cb.Region(), Endpoint: cb.URL()}
	_, err = runner(build.CodeBuildOptions{}).Run(t.Context(), missing)
	var aerr *build.AWSError
	require.ErrorAs(t, err, &aerr)
	require.Equal(t, "ResourceNotFoundException", aerr.Type)
	require.Equal(t, "StartBuild", aerr.Operation)
	require.NotErrorIs(t, err, provider.ErrUnauthorized)

	// No credentials anywhere the runner looks (and no instance role is
	// asked: a profile that does not exist fails before that).
	env := map[string]string{"AWS_PROFILE": "no-such-profile", "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none")}
	r := build.NewCodeBuildRunner(build.CodeBuildOptions{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	_, err = r.Run(t.Context(), b)
	require.ErrorIs(t, err, provider.ErrConfig)
	require.ErrorContains(t, err, "no-such-profile")
}

func TestCodeBuildReRunsAnEarlierSourceVersion(t *testing.T) {
	t.Parallel()
	cb, err := sim.NewCodeBuild(sim.CodeBuildOptions{Projects: []string{"acme-site"}})
	require.NoError(t, err)
	t.Cleanup(cb.Close)
	f := setup(t, cb)
	b := binding(config.Build{Driver: "codebuild", ProjectName: "acme-site", Region: cb.Region(), Endpoint: cb.URL()})
	ctx := context.Background()

	cb.SetSourceHead("1111111")
	res, err := f.builder.Trigger(ctx, b)
	require.NoError(t, err)
	require.Equal(t, "1111111", res.SourceVersion, "the head")
	cb.SetSourceHead("2222222")
	res, err = f.builder.TriggerSource(ctx, b, "1111111")
	require.NoError(t, err)
	require.Equal(t, build.StatusSucceeded, res.Status)
	require.Equal(t, "1111111", res.SourceVersion)
	builds := cb.Builds()
	require.Len(t, builds, 2)
	require.Equal(t, "1111111", builds[1].SourceVersion)
	require.Equal(t, "1111111", builds[1].Resolved)

	hook := binding(config.Build{Driver: "hook", URL: config.NewSecret("http://127.0.0.1:1/hook")})
	_, err = f.builder.TriggerSource(ctx, hook, "1111111")
	require.ErrorContains(t, err, "cannot build an earlier source version")
}
