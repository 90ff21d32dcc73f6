package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/redact"
)

// SNS publishes each message's JSON (the spec's drift event and the rest of
// Message) to an SNS topic, with the message attributes client_id,
// severity, drift_type and kind (type String; an empty one is left out, as
// SNS refuses empty values) for subscription filter policies. A FIFO topic
// (name ending in .fifo) gets MessageGroupId = client id and a
// deduplication id derived from the idempotency key, so a redelivered
// message is stored once. The SDK's client is built on the first Send
// (credentials from the channel's references, else the SDK's default
// chain), sends through ChannelOptions.HTTPClient, and does not retry by
// itself: the outbox retries.
type SNS struct {
	name string
	cfg  SNSConfig
	opts ChannelOptions

	mu     sync.Mutex
	client *sns.Client
}

// SNSConfig is what an sns channel needs besides the shared options.
type SNSConfig struct {
	TopicARN string
	// Region defaults to the ARN's.
	Region string
	// Endpoint replaces https://sns.REGION.amazonaws.com (e.g. a local
	// emulator); its query and userinfo are never shown.
	Endpoint string
	// AccessKeyID and SecretAccessKey (resolved), with an optional
	// SessionToken, are static credentials; empty: the default chain.
	AccessKeyID, SecretAccessKey, SessionToken string
}

// MaxSNSMessageBytes is SNS's limit on a published message.
const MaxSNSMessageBytes = 256 << 10

// NewSNS returns the sns channel of cfg.
func NewSNS(name string, cfg SNSConfig, opts ChannelOptions) (*SNS, error) {
	opts = opts.withDefaults()
	region, ok := config.SNSTopicRegion(cfg.TopicARN)
	if !ok {
		return nil, fmt.Errorf("sns channel %s: %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", name, cfg.TopicARN)
	}
	if cfg.Region == "" {
		cfg.Region = region
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("sns channel %s: no region (the topic ARN names none)", name)
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, fmt.Errorf("sns channel %s: access_key_id and secret_access_key go together", name)
	}
	return &SNS{name: name, cfg: cfg, opts: opts}, nil
}

// Name is the channel's name.
func (s *SNS) Name() string { return s.name }

func (s *SNS) snsClient(ctx context.Context) (*sns.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	load := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(s.cfg.Region),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if s.cfg.AccessKeyID != "" {
		load = append(load, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(s.cfg.AccessKeyID, s.cfg.SecretAccessKey, s.cfg.SessionToken)))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		// A broken shared config file: the operator's to fix.
		return nil, Permanent(fmt.Errorf("sns %s: load AWS configuration: %s", s.name, redact.Text(err.Error())))
	}
	s.client = sns.NewFromConfig(ac, func(o *sns.Options) {
		// Publish goes through the channel's client (egress policy,
		// no redirects); credential providers keep the SDK's, which
		// honours AWS_CA_BUNDLE.
		o.HTTPClient = s.opts.HTTPClient
		if s.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.cfg.Endpoint)
		}
	})
	return s.client, nil
}

// Send publishes m.
func (s *SNS) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return Permanent(fmt.Errorf("sns: encode message: %w", err))
	}
	if len(body) > MaxSNSMessageBytes {
		return Permanent(fmt.Errorf("sns %s: message of %d bytes is over SNS's limit of %d", s.name, len(body), MaxSNSMessageBytes))
	}
	c, err := s.snsClient(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	_, err = c.Publish(ctx, s.publishInput(m, body))
	if err != nil {
		return s.classify(err)
	}
	return nil
}

// publishInput is the Publish call of m, whose JSON is body.
func (s *SNS) publishInput(m Message, body []byte) *sns.PublishInput {
	in := &sns.PublishInput{
		TopicArn:          aws.String(s.cfg.TopicARN),
		Message:           aws.String(string(body)),
		Subject:           aws.String(snsSubject(m.title())),
		MessageAttributes: SNSAttributes(m),
	}
	if strings.HasSuffix(s.cfg.TopicARN, ".fifo") {
		sum := sha256.Sum256([]byte(m.IdempotencyKey))
		in.MessageGroupId = aws.String(snsGroup(m.ClientID))
		in.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
	}
	return in
}

// SNSAttributes are the message attributes of m: client_id, severity,
// drift_type and kind, each a String, those with empty values left out.
func SNSAttributes(m Message) map[string]snstypes.MessageAttributeValue {
	attrs := map[string]snstypes.MessageAttributeValue{}
	for k, v := range map[string]string{
		"client_id": m.ClientID, "severity": string(m.Severity),
		"drift_type": string(m.DriftType), "kind": string(m.Kind),
	} {
		if v != "" {
			attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	return attrs
}

// snsSubject fits t to SNS's Subject: printable ASCII, at most 100
// characters.
func snsSubject(t string) string {
	b := []byte(t)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 100 {
		b = append(b[:97], "..."...)
	}
	return string(b)
}

// snsGroup fits a client id to MessageGroupId (at most 128 characters).
func snsGroup(clientID string) string {
	if clientID == "" {
		return "_"
	}
	if len(clientID) > 128 {
		return clientID[:128]
	}
	return clientID
}

// classify turns a Publish error into a RetryableError (no answer,
// throttling, 5xx) or a PermanentError (the egress allowlist refused the
// endpoint; any other error answer: a missing topic, a denied
// publish, a bad parameter).
func (s *SNS) classify(err error) error {
	shown := "sns " + s.name
	if s.cfg.Endpoint != "" {
		shown += " at " + redact.URL(s.cfg.Endpoint)
	}
	wrapped := &redactedError{msg: fmt.Sprintf("%s: publish to %s: %s", shown, s.cfg.TopicARN, redact.Text(err.Error())), err: err}
	if errors.Is(err, egress.ErrRefused) {
		return Permanent(wrapped)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return Retryable(wrapped, 0) // no answer: transport, credentials, timeout
	}
	switch apiErr.ErrorCode() {
	case "Throttled", "Throttling", "ThrottlingException", "KMSThrottling", "InternalError", "ServiceUnavailable":
		return Retryable(wrapped, 0)
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		if st := respErr.HTTPStatusCode(); st >= 500 || st == http.StatusTooManyRequests || st == http.StatusRequestTimeout {
			return Retryable(wrapped, 0)
		}
	}
	return Permanent(wrapped)
}
