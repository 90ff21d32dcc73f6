package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/redact"
)

// Defaults of CodeBuildOptions.
const (
	DefaultCodeBuildPoll    = 10 * time.Second
	DefaultCodeBuildTimeout = 60 * time.Minute
	codeBuildTargetPrefix   = "CodeBuild_20161006."
	codeBuildContentType    = "application/x-amz-json-1.1"
)

// CodeBuildOptions configure a CodeBuildRunner.
type CodeBuildOptions struct {
	// HTTPClient sends the API calls.
	HTTPClient *http.Client
	// Credentials returns the credentials to sign with (default:
	// AWSCredentialSource{Getenv: Getenv}.Credentials).
	Credentials func() (AWSCredentials, error)
	// Getenv reads AWS_REGION / AWS_DEFAULT_REGION for a binding without
	// build.region (default os.LookupEnv).
	Getenv func(string) (string, bool)
	// PollInterval is how often BatchGetBuilds is asked (default 10s).
	PollInterval time.Duration
	// Timeout bounds a build when the binding sets none (default 60m).
	Timeout time.Duration
	// RequestTimeout bounds one API call (default 30s).
	RequestTimeout time.Duration
	// Now is the signing clock (default time.Now).
	Now func() time.Time
}

// CodeBuildRunner starts a build of build.project_name with StartBuild and
// follows it with BatchGetBuilds until it completes, over CodeBuild's JSON
// 1.1 protocol signed with SigV4 (botocore's codebuild/2016-10-06
// service-2.json: POST / with X-Amz-Target CodeBuild_20161006.{Operation},
// Content-Type application/x-amz-json-1.1; errors as HTTP 400 with
// {"__type":"...#InvalidInputException","message":...}). The endpoint is
// build.endpoint, else https://codebuild.{region}.amazonaws.com.
type CodeBuildRunner struct {
	opts CodeBuildOptions
	hc   *http.Client
}

// NewCodeBuildRunner returns a CodeBuildRunner.
func NewCodeBuildRunner(opts CodeBuildOptions) *CodeBuildRunner {
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
	}
	if opts.Credentials == nil {
		opts.Credentials = AWSCredentialSource{Getenv: opts.Getenv}.Credentials
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultCodeBuildPoll
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultCodeBuildTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &CodeBuildRunner{opts: opts, hc: hc}
}

// AWSError is an error answer of an AWS JSON API.
type AWSError struct {
	Operation string
	Status    int
	Type      string // the code after any '#', e.g. InvalidInputException
	Message   string
	RequestID string
}

func (e *AWSError) Error() string {
	s := fmt.Sprintf("codebuild %s: %d %s", e.Operation, e.Status, e.Type)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// retryable: throttling and server errors.
func (e *AWSError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests ||
		e.Type == "ThrottlingException" || e.Type == "TooManyRequestsException" || e.Type == "RequestLimitExceeded"
}

// codeBuild is the part of CodeBuild's Build shape read here.
type codeBuild struct {
	ID            string `json:"id"`
	BuildStatus   string `json:"buildStatus"`
	BuildComplete bool   `json:"buildComplete"`
	CurrentPhase  string `json:"currentPhase"`
	// ResolvedSourceVersion is the commit the build runs.
	ResolvedSourceVersion string   `json:"resolvedSourceVersion"`
	StartTime             *float64 `json:"startTime"`
	EndTime               *float64 `json:"endTime"`
	Phases                []struct {
		PhaseType   string `json:"phaseType"`
		PhaseStatus string `json:"phaseStatus"`
		Contexts    []struct {
			StatusCode string `json:"statusCode"`
			Message    string `json:"message"`
		} `json:"contexts"`
	} `json:"phases"`
}

type codeBuildTarget struct {
	endpoint, region string
	creds            AWSCredentials
}

// Run starts the build of the project's head and waits for it.
func (c *CodeBuildRunner) Run(ctx context.Context, b provider.Binding) (BuildResult, error) {
	return c.RunSource(ctx, b, "")
}

// RunSource starts a build of sourceVersion (a commit; empty: the
// project's head, as Run) and waits for it: a rollback re-runs the source
// version a known-good build ran (BuildResult.SourceVersion).
func (c *CodeBuildRunner) RunSource(ctx context.Context, b provider.Binding, sourceVersion string) (BuildResult, error) {
	res := BuildResult{Driver: DriverCodeBuild, StartedAt: time.Now()}
	if b.Build == nil || b.Build.ProjectName == "" {
		return res, provider.ConfigError("codebuild build of %s/%s has no project_name", b.ClientID, b.StackID)
	}
	t, err := c.target(b)
	if err != nil {
		return res, err
	}
	timeout := b.Build.Timeout.D()
	if timeout <= 0 {
		timeout = c.opts.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var started struct {
		Build codeBuild `json:"build"`
	}
	in := map[string]any{"projectName": b.Build.ProjectName, "idempotencyToken": uuid.NewString()}
	if sourceVersion != "" {
		in["sourceVersion"] = sourceVersion
	}
	if err := c.call(ctx, t, "StartBuild", in, &started); err != nil {
		return res, fmt.Errorf("start codebuild project %s: %w", b.Build.ProjectName, err)
	}
	build := started.Build
	res.ID = build.ID
	tick := time.NewTicker(c.opts.PollInterval)
	defer tick.Stop()
	for !build.BuildComplete {
		select {
		case <-ctx.Done():
			res.Status = StatusFailed
			res.Detail = fmt.Sprintf("codebuild build %s still %s after %s", build.ID, build.CurrentPhase, timeout)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return res, nil
			}
			return res, ctx.Err()
		case <-tick.C:
		}
		var got struct {
			Builds         []codeBuild `json:"builds"`
			BuildsNotFound []string    `json:"buildsNotFound"`
		}
		if err := c.call(ctx, t, "BatchGetBuilds", map[string]any{"ids": []string{build.ID}}, &got); err != nil {
			if ctx.Err() != nil {
				continue // the select above reports it
			}
			return res, fmt.Errorf("follow codebuild build %s: %w", build.ID, err)
		}
		if len(got.Builds) == 0 {
			return res, fmt.Errorf("follow codebuild build %s: not found", build.ID)
		}
		build = got.Builds[0]
	}
	res.SourceVersion = build.ResolvedSourceVersion
	if build.StartTime != nil {
		res.StartedAt = epoch(*build.StartTime)
	}
	res.FinishedAt = time.Now()
	if build.EndTime != nil {
		res.FinishedAt = epoch(*build.EndTime)
	}
	if build.BuildStatus == "SUCCEEDED" {
		res.Status = StatusSucceeded
		res.Detail = "codebuild build " + build.ID + " SUCCEEDED"
		return res, nil
	}
	res.Status = StatusFailed
	res.Detail = "codebuild build " + build.ID + " " + build.BuildStatus
	for _, p := range build.Phases {
		if p.PhaseStatus != "" && p.PhaseStatus != "SUCCEEDED" {
			res.Detail += " in " + p.PhaseType
			for _, pc := range p.Contexts {
				if pc.Message != "" {
					res.Detail += ": " + provider.Truncate(pc.Message, 200)
				}
			}
			break
		}
	}
	return res, nil
}

func epoch(s float64) time.Time {
	return time.Unix(0, int64(s*float64(time.Second))).UTC()
}

func (c *CodeBuildRunner) target(b provider.Binding) (codeBuildTarget, error) {
	region := b.Build.Region
	if region == "" {
		for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
			if v, ok := c.opts.Getenv(k); ok && strings.TrimSpace(v) != "" {
				region = strings.TrimSpace(v)
				break
			}
		}
	}
	if region == "" {
		return codeBuildTarget{}, provider.ConfigError("codebuild build of %s/%s: no build.region and AWS_REGION is unset", b.ClientID, b.StackID)
	}
	endpoint := strings.TrimRight(b.Build.Endpoint, "/")
	if endpoint == "" {
		endpoint = "https://codebuild." + region + ".amazonaws.com"
	}
	if u, err := url.Parse(endpoint); err != nil || u.Host == "" {
		return codeBuildTarget{}, provider.ConfigError("codebuild endpoint %q is not a URL", redact.URL(endpoint))
	}
	creds, err := c.opts.Credentials()
	if err != nil {
		return codeBuildTarget{}, fmt.Errorf("%w: %v", provider.ErrConfig, err)
	}
	return codeBuildTarget{endpoint: endpoint, region: region, creds: creds}, nil
}

// call makes one JSON 1.1 call, retrying throttling and server errors
// twice with a short backoff.
func (c *CodeBuildRunner) call(ctx context.Context, t codeBuildTarget, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := c.callOnce(ctx, t, op, body, out)
		var aerr *AWSError
		if err == nil || attempt == 2 || !(errors.As(err, &aerr) && aerr.retryable()) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
		}
	}
}

func (c *CodeBuildRunner) callOnce(ctx context.Context, t codeBuildTarget, op string, body []byte, out any) error {
	rctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("codebuild %s: %w", op, err)
	}
	req.Header.Set("Content-Type", codeBuildContentType)
	req.Header.Set("X-Amz-Target", codeBuildTargetPrefix+op)
	signV4(req, body, t.creds, t.region, "codebuild", c.opts.Now())
	resp, err := c.hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if errors.Is(err, egress.ErrRefused) {
			return fmt.Errorf("codebuild %s at %s: %w", op, redact.URL(t.endpoint), err)
		}
		return fmt.Errorf("codebuild %s at %s: %w: %s", op, redact.URL(t.endpoint), provider.ErrUnreachable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("codebuild %s: read answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
		}
		_ = json.Unmarshal(raw, &e)
		typ := e.Type
		if i := strings.LastIndexByte(typ, '#'); i >= 0 {
			typ = typ[i+1:]
		}
		if typ == "" {
			typ = resp.Header.Get("X-Amzn-ErrorType")
			typ, _, _ = strings.Cut(typ, ":")
		}
		msg := e.Message
		if msg == "" {
			msg = e.Msg
		}
		return &AWSError{Operation: op, Status: resp.StatusCode, Type: typ, Message: provider.Truncate(msg, 300),
			RequestID: resp.Header.Get("X-Amzn-RequestId")}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("codebuild %s: decode answer: %w", op, err)
	}
	return nil
}
