package build

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/redact"
)

// Defaults of CodeBuildOptions.
const (
	DefaultCodeBuildPoll    = 10 * time.Second
	DefaultCodeBuildTimeout = 60 * time.Minute
)

// CodeBuildOptions configure a CodeBuildRunner.
type CodeBuildOptions struct {
	// HTTPClient sends the API calls (the egress policy's client).
	HTTPClient *http.Client
	// Credentials sign the calls (default: the AWS SDK's default chain,
	// with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
	// AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE read
	// through Getenv first).
	Credentials aws.CredentialsProvider
	// Getenv reads AWS_REGION / AWS_DEFAULT_REGION for a binding without
	// build.region, and the variables above (default os.LookupEnv).
	Getenv func(string) (string, bool)
	// PollInterval is how often BatchGetBuilds is asked (default 10s).
	PollInterval time.Duration
	// Timeout bounds a build when the binding sets none (default 60m).
	Timeout time.Duration
	// RequestTimeout bounds one API call, the SDK's retries included
	// (default 30s).
	RequestTimeout time.Duration
}

// CodeBuildRunner starts a build of build.project_name with StartBuild and
// follows it with BatchGetBuilds until it completes, through aws-sdk-go-v2's
// CodeBuild client: the SDK signs (SigV4), resolves credentials and retries
// throttling, 5xx and transport failures with its standard retryer (not a
// refusal by the egress policy). The endpoint is build.endpoint, else the
// SDK's for the region (https://codebuild.{region}.amazonaws.com).
type CodeBuildRunner struct {
	opts CodeBuildOptions
	hc   *http.Client
}

// NewCodeBuildRunner returns a CodeBuildRunner.
func NewCodeBuildRunner(opts CodeBuildOptions) *CodeBuildRunner {
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
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
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &CodeBuildRunner{opts: opts, hc: hc}
}

// AWSError is an error answer of CodeBuild. It matches
// provider.ErrUnauthorized when the credentials or signature were refused.
type AWSError struct {
	Operation string
	Status    int
	Type      string // the error code, e.g. InvalidInputException
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

// Is makes a refusal of the credentials match provider.ErrUnauthorized.
func (e *AWSError) Is(target error) bool {
	return target == provider.ErrUnauthorized && awsAuthErrors[e.Type]
}

// awsAuthErrors are the error codes of refused credentials (AWS's common
// errors and CodeBuild's).
var awsAuthErrors = map[string]bool{
	"UnrecognizedClientException": true, "InvalidSignatureException": true,
	"IncompleteSignatureException": true, "MissingAuthenticationTokenException": true,
	"AccessDeniedException": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
	"SignatureDoesNotMatch": true, "NotAuthorized": true,
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
	client, err := c.client(ctx, b)
	if err != nil {
		return res, err
	}
	timeout := b.Build.Timeout.D()
	if timeout <= 0 {
		timeout = c.opts.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	in := &codebuild.StartBuildInput{ProjectName: aws.String(b.Build.ProjectName), IdempotencyToken: aws.String(uuid.NewString())}
	if sourceVersion != "" {
		in.SourceVersion = aws.String(sourceVersion)
	}
	var started *codebuild.StartBuildOutput
	err = c.call(ctx, "StartBuild", func(ctx context.Context) (err error) {
		started, err = client.StartBuild(ctx, in)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("start codebuild project %s: %w", b.Build.ProjectName, err)
	}
	if started.Build == nil || started.Build.Id == nil {
		return res, fmt.Errorf("start codebuild project %s: %w: no build in the answer", b.Build.ProjectName, provider.ErrInvalidAnswer)
	}
	build := *started.Build
	res.ID = *build.Id
	build, err = c.follow(ctx, client, build, timeout, &res)
	if err != nil || res.Status != "" {
		return res, err
	}
	return finished(res, build), nil
}

// follow asks BatchGetBuilds every PollInterval until the build completes.
// When the build's timeout passes first it sets res's status and detail.
func (c *CodeBuildRunner) follow(ctx context.Context, client *codebuild.Client, build types.Build, timeout time.Duration, res *BuildResult) (types.Build, error) {
	tick := time.NewTicker(c.opts.PollInterval)
	defer tick.Stop()
	for !build.BuildComplete {
		select {
		case <-ctx.Done():
			res.Status = StatusFailed
			res.Detail = fmt.Sprintf("codebuild build %s still %s after %s", res.ID, aws.ToString(build.CurrentPhase), timeout)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return build, nil
			}
			return build, ctx.Err()
		case <-tick.C:
		}
		var got *codebuild.BatchGetBuildsOutput
		err := c.call(ctx, "BatchGetBuilds", func(ctx context.Context) (err error) {
			got, err = client.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: []string{res.ID}})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				continue // the select above reports it
			}
			return build, fmt.Errorf("follow codebuild build %s: %w", res.ID, err)
		}
		if len(got.Builds) == 0 {
			return build, fmt.Errorf("follow codebuild build %s: not found", res.ID)
		}
		build = got.Builds[0]
	}
	return build, nil
}

// finished is res completed with a build that completed.
func finished(res BuildResult, build types.Build) BuildResult {
	res.SourceVersion = aws.ToString(build.ResolvedSourceVersion)
	if build.StartTime != nil {
		res.StartedAt = build.StartTime.UTC()
	}
	res.FinishedAt = time.Now()
	if build.EndTime != nil {
		res.FinishedAt = build.EndTime.UTC()
	}
	if build.BuildStatus == types.StatusTypeSucceeded {
		res.Status = StatusSucceeded
		res.Detail = "codebuild build " + res.ID + " SUCCEEDED"
		return res
	}
	res.Status = StatusFailed
	res.Detail = "codebuild build " + res.ID + " " + string(build.BuildStatus)
	for _, p := range build.Phases {
		if p.PhaseStatus != "" && p.PhaseStatus != types.StatusTypeSucceeded {
			res.Detail += " in " + string(p.PhaseType)
			for _, pc := range p.Contexts {
				if m := aws.ToString(pc.Message); m != "" {
					res.Detail += ": " + provider.Truncate(m, 200)
				}
			}
			break
		}
	}
	return res
}

// client is the CodeBuild client of b's region and endpoint, with its
// credentials retrieved (a failure is provider.ErrConfig, as a binding
// without a region is).
func (c *CodeBuildRunner) client(ctx context.Context, b provider.Binding) (*codebuild.Client, error) {
	env := func(k string) string { v, _ := c.opts.Getenv(k); return strings.TrimSpace(v) }
	region := b.Build.Region
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = env(k)
		}
	}
	if region == "" {
		return nil, provider.ConfigError("codebuild build of %s/%s: no build.region and AWS_REGION is unset", b.ClientID, b.StackID)
	}
	endpoint := strings.TrimRight(b.Build.Endpoint, "/")
	if u, err := url.Parse(endpoint); endpoint != "" && (err != nil || u.Host == "") {
		return nil, provider.ConfigError("codebuild endpoint %q is not a URL", redact.URL(endpoint))
	}
	load := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region), awsconfig.WithRetryer(codeBuildRetryer)}
	creds := c.opts.Credentials
	if id, secret := env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"); creds == nil && id != "" && secret != "" {
		creds = credentials.NewStaticCredentialsProvider(id, secret, env("AWS_SESSION_TOKEN"))
	}
	if creds != nil {
		load = append(load, awsconfig.WithCredentialsProvider(creds))
	}
	if p := env("AWS_PROFILE"); p != "" {
		load = append(load, awsconfig.WithSharedConfigProfile(p))
	}
	if f := env("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		load = append(load, awsconfig.WithSharedCredentialsFiles([]string{f}))
	}
	if f := env("AWS_CONFIG_FILE"); f != "" {
		load = append(load, awsconfig.WithSharedConfigFiles([]string{f}))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("%w: load AWS configuration: %s", provider.ErrConfig, redact.Text(err.Error()))
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(rctx); err != nil {
		return nil, fmt.Errorf("%w: no AWS credentials: %s", provider.ErrConfig, redact.Text(err.Error()))
	}
	return codebuild.NewFromConfig(cfg, func(o *codebuild.Options) {
		o.HTTPClient = c.hc // the egress policy's; the SDK's own serves credential providers
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// codeBuildRetryer is the SDK's standard retryer, except that a refusal by
// the egress policy is final.
func codeBuildRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		refused := retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, egress.ErrRefused) {
				return aws.FalseTernary
			}
			return aws.UnknownTernary
		})
		o.Retryables = append([]retry.IsErrorRetryable{refused}, o.Retryables...)
	})
}

// call runs one API call under RequestTimeout and translates its error: an
// error answer is an *AWSError, a refusal by the egress policy wraps
// egress.ErrRefused, and no answer wraps provider.ErrUnreachable.
func (c *CodeBuildRunner) call(ctx context.Context, op string, do func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	err := do(rctx)
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e := &AWSError{Operation: op, Type: apiErr.ErrorCode(), Message: provider.Truncate(apiErr.ErrorMessage(), 300)}
		var respErr *awshttp.ResponseError
		if errors.As(err, &respErr) {
			e.Status, e.RequestID = respErr.HTTPStatusCode(), respErr.ServiceRequestID()
		}
		return e
	}
	if errors.Is(err, egress.ErrRefused) {
		return fmt.Errorf("codebuild %s: %w", op, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("codebuild %s: %w: %s", op, provider.ErrUnreachable, redact.Text(err.Error()))
}
