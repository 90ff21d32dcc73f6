package sim

// CodeBuild fakes the part of AWS CodeBuild's JSON 1.1 API that the
// codebuild build runner uses, after botocore's
// data/codebuild/2016-10-06/service-2.json: POST / with X-Amz-Target
// CodeBuild_20161006.StartBuild or .BatchGetBuilds, Content-Type
// application/x-amz-json-1.1, signed with SigV4 (service codebuild); the
// Build shape (id "project:uuid", arn, buildNumber, startTime/endTime as
// epoch seconds, currentPhase, buildStatus, buildComplete, phases);
// BatchGetBuilds' {"builds","buildsNotFound"}; StartBuild's optional
// sourceVersion (a commit of the project's source; without it the head),
// answered as the Build's sourceVersion and resolvedSourceVersion; errors as HTTP 400
// {"__type":"InvalidInputException","message"} with x-amzn-RequestId.
// Signatures are checked here independently of internal/build, after
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html.

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Defaults of CodeBuildOptions.
const (
	DefaultCodeBuildRegion    = "us-east-1"
	DefaultCodeBuildAccessKey = "AKIASIMULATEDEXAMPLE"
	DefaultCodeBuildSecretKey = "simulatedSecretKey/EXAMPLE+0123456789abcd"
)

// CodeBuildOptions configure a fake CodeBuild.
type CodeBuildOptions struct {
	Addr   string
	Region string
	// AccessKeyID and SecretAccessKey are the only credentials accepted.
	AccessKeyID, SecretAccessKey string
	// Projects that exist (default: any name).
	Projects []string
	// BuildTime is how long a build runs (default: done at the first
	// BatchGetBuilds).
	BuildTime time.Duration
	Logger    *slog.Logger
}

// CodeBuildBuild is a build the fake ran.
type CodeBuildBuild struct {
	ID, Project, Status string
	// SourceVersion is what StartBuild asked for (empty: the head);
	// Resolved the commit the build ran.
	SourceVersion, Resolved string
	Started                 time.Time
}

// CodeBuild is a fake AWS CodeBuild endpoint.
type CodeBuild struct {
	APIFaults
	opts CodeBuildOptions
	srv  *apiServer

	mu      sync.Mutex
	outcome string
	builds  map[string]*cbBuild
	order   []string
	tokens  map[string]string // idempotency token -> build id
	numbers map[string]int
	head    string // the commit a build without sourceVersion runs
}

type cbBuild struct {
	id, project string
	// source is the requested sourceVersion, resolved the commit run.
	source, resolved string
	number           int
	started          time.Time
	outcome          string
}

// NewCodeBuild starts a fake CodeBuild.
func NewCodeBuild(opts CodeBuildOptions) (*CodeBuild, error) {
	if opts.Region == "" {
		opts.Region = DefaultCodeBuildRegion
	}
	if opts.AccessKeyID == "" {
		opts.AccessKeyID, opts.SecretAccessKey = DefaultCodeBuildAccessKey, DefaultCodeBuildSecretKey
	}
	c := &CodeBuild{APIFaults: newAPIFaults(), opts: opts, outcome: "SUCCEEDED", head: "0000000000000000000000000000000000000001",
		builds: map[string]*cbBuild{}, tokens: map[string]string{}, numbers: map[string]int{}}
	srv, err := startAPIServer(opts.Addr, http.HandlerFunc(c.handle), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim codebuild: %w", err)
	}
	c.srv = srv
	return c, nil
}

// URL is the endpoint (build.endpoint).
func (c *CodeBuild) URL() string { return c.srv.url }

// Region is the region signatures must name.
func (c *CodeBuild) Region() string { return c.opts.Region }

// Credentials are the access key id and secret the fake accepts.
func (c *CodeBuild) Credentials() (string, string) { return c.opts.AccessKeyID, c.opts.SecretAccessKey }

// SetOutcome makes builds started from now on end with status
// (SUCCEEDED, FAILED, FAULT, TIMED_OUT or STOPPED).
func (c *CodeBuild) SetOutcome(status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcome = status
}

// SetSourceHead sets the commit a build that names no sourceVersion runs
// (a push to the project's branch).
func (c *CodeBuild) SetSourceHead(commit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.head = commit
}

// Builds lists the builds started, oldest first.
func (c *CodeBuild) Builds() []CodeBuildBuild {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CodeBuildBuild, 0, len(c.order))
	for _, id := range c.order {
		b := c.builds[id]
		out = append(out, CodeBuildBuild{ID: b.id, Project: b.project, Status: b.outcome, Started: b.started,
			SourceVersion: b.source, Resolved: b.resolved})
	}
	return out
}

// Close stops the fake.
func (c *CodeBuild) Close() {
	c.closeFaults()
	c.srv.close()
}

func (c *CodeBuild) awsError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func (c *CodeBuild) handle(w http.ResponseWriter, r *http.Request) {
	kind, _, ok := c.take(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		c.awsError(w, http.StatusBadRequest, "SerializationException", "cannot read the body")
		return
	}
	switch {
	case kind == faultServerError:
		c.awsError(w, http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error.")
		return
	case kind == faultRateLimit:
		c.awsError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	case r.Method != http.MethodPost || r.URL.Path != "/":
		c.awsError(w, http.StatusNotFound, "UnknownOperationException", "")
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1"):
		c.awsError(w, http.StatusBadRequest, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
		return
	}
	if typ, msg := c.verify(r, body); typ != "" {
		status := http.StatusForbidden
		if typ == "UnrecognizedClientException" || typ == "MissingAuthenticationTokenException" {
			status = http.StatusBadRequest
		}
		c.awsError(w, status, typ, msg)
		return
	}
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "CodeBuild_20161006.")
	switch op {
	case "StartBuild":
		c.startBuild(w, body)
	case "BatchGetBuilds":
		c.batchGetBuilds(w, body)
	default:
		c.awsError(w, http.StatusBadRequest, "UnknownOperationException", "")
	}
}

// verify checks the SigV4 Authorization header; it returns an AWS error
// type and message, or "" when the signature is good.
func (c *CodeBuild) verify(r *http.Request, body []byte) (string, string) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "MissingAuthenticationTokenException", "Missing Authentication Token"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return "IncompleteSignatureException", "Authorization header requires a valid Credential"
	}
	if scope[0] != c.opts.AccessKeyID {
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if scope[2] != c.opts.Region || scope[3] != "codebuild" {
		return "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region and service codebuild, not '%s/%s'", scope[2], scope[3])
	}
	amzDate := r.Header.Get("X-Amz-Date")
	when, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, scope[1]) {
		return "IncompleteSignatureException", "X-Amz-Date must match the credential scope date"
	}
	if d := time.Since(when); d > 15*time.Minute || d < -15*time.Minute {
		return "InvalidSignatureException", "Signature expired"
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") || !slices.Contains(signed, "x-amz-date") {
		return "InvalidSignatureException", "host and x-amz-date must be signed"
	}
	var hdrs strings.Builder
	for _, name := range signed {
		var vals []string
		if name == "host" {
			vals = []string{r.Host}
		} else {
			for _, v := range r.Header.Values(name) {
				vals = append(vals, strings.Join(strings.Fields(v), " "))
			}
		}
		hdrs.WriteString(name + ":" + strings.Join(vals, ",") + "\n")
	}
	payload := sha256.Sum256(body)
	canonical := r.Method + "\n/\n" + "\n" + hdrs.String() + "\n" + fields["SignedHeaders"] + "\n" + hex.EncodeToString(payload[:])
	cr := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(cr[:])
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+c.opts.SecretAccessKey), scope[1]), scope[2]), scope[3]), "aws4_request")
	want := hex.EncodeToString(mac(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return "", ""
}

func (c *CodeBuild) startBuild(w http.ResponseWriter, body []byte) {
	var in struct {
		ProjectName      string `json:"projectName"`
		IdempotencyToken string `json:"idempotencyToken"`
		SourceVersion    string `json:"sourceVersion"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		c.awsError(w, http.StatusBadRequest, "SerializationException", "body is not valid JSON")
		return
	}
	if in.ProjectName == "" {
		c.awsError(w, http.StatusBadRequest, "InvalidInputException", "1 validation error detected: Value null at 'projectName' failed to satisfy constraint: Member must not be null")
		return
	}
	if len(c.opts.Projects) > 0 && !slices.Contains(c.opts.Projects, in.ProjectName) {
		c.awsError(w, http.StatusBadRequest, "ResourceNotFoundException",
			fmt.Sprintf("Project cannot be found: arn:aws:codebuild:%s:123456789012:project/%s", c.opts.Region, in.ProjectName))
		return
	}
	c.mu.Lock()
	id, again := c.tokens[in.IdempotencyToken]
	if !again || in.IdempotencyToken == "" {
		c.numbers[in.ProjectName]++
		b := &cbBuild{id: in.ProjectName + ":" + uuid.NewString(), project: in.ProjectName,
			number: c.numbers[in.ProjectName], started: time.Now(), outcome: c.outcome,
			source: in.SourceVersion, resolved: cmp.Or(in.SourceVersion, c.head)}
		c.builds[b.id] = b
		c.order = append(c.order, b.id)
		id = b.id
		if in.IdempotencyToken != "" {
			c.tokens[in.IdempotencyToken] = id
		}
	}
	out := c.shapeLocked(c.builds[id], false)
	c.mu.Unlock()
	c.answer(w, map[string]any{"build": out})
}

func (c *CodeBuild) batchGetBuilds(w http.ResponseWriter, body []byte) {
	var in struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.IDs) == 0 || len(in.IDs) > 100 {
		c.awsError(w, http.StatusBadRequest, "InvalidInputException", "ids must hold 1 to 100 build ids")
		return
	}
	builds, missing := []any{}, []string{}
	c.mu.Lock()
	for _, id := range in.IDs {
		b, ok := c.builds[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		builds = append(builds, c.shapeLocked(b, time.Since(b.started) >= c.opts.BuildTime))
	}
	c.mu.Unlock()
	c.answer(w, map[string]any{"builds": builds, "buildsNotFound": missing})
}

// shapeLocked is the Build shape of b, complete or still in BUILD.
func (c *CodeBuild) shapeLocked(b *cbBuild, complete bool) map[string]any {
	start := float64(b.started.UnixNano()) / 1e9
	out := map[string]any{
		"id": b.id, "arn": fmt.Sprintf("arn:aws:codebuild:%s:123456789012:build/%s", c.opts.Region, b.id),
		"buildNumber": b.number, "startTime": start, "projectName": b.project, "initiator": "blackwell",
		"resolvedSourceVersion": b.resolved, "timeoutInMinutes": 60, "queuedTimeoutInMinutes": 480,
		"logs": map[string]any{"groupName": "/aws/codebuild/" + b.project, "streamName": strings.TrimPrefix(b.id, b.project+":")},
	}
	if b.source != "" {
		out["sourceVersion"] = b.source
	}
	phase := func(typ, status string) map[string]any {
		p := map[string]any{"phaseType": typ, "phaseStatus": status, "startTime": start}
		if status != "" && status != "SUCCEEDED" {
			p["contexts"] = []any{map[string]any{"statusCode": "COMMAND_EXECUTION_ERROR",
				"message": "Error while executing command: npm run build. Reason: exit status 1"}}
		}
		return p
	}
	if !complete {
		out["currentPhase"], out["buildStatus"], out["buildComplete"] = "BUILD", "IN_PROGRESS", false
		out["phases"] = []any{phase("SUBMITTED", "SUCCEEDED"), phase("QUEUED", "SUCCEEDED"), map[string]any{"phaseType": "BUILD", "startTime": start}}
		return out
	}
	out["currentPhase"], out["buildStatus"], out["buildComplete"] = "COMPLETED", b.outcome, true
	out["endTime"] = float64(time.Now().UnixNano()) / 1e9
	buildStatus := "SUCCEEDED"
	if b.outcome != "SUCCEEDED" {
		buildStatus = b.outcome
	}
	out["phases"] = []any{phase("SUBMITTED", "SUCCEEDED"), phase("QUEUED", "SUCCEEDED"), phase("BUILD", buildStatus),
		map[string]any{"phaseType": "COMPLETED", "startTime": start}}
	return out
}

func (c *CodeBuild) answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
