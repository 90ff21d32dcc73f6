// Package dynamodb is a store driver on Amazon DynamoDB (aws-sdk-go-v2),
// for installations that run on AWS without a database server to operate.
//
// It is EXPERIMENTAL: every method of store.Store is implemented, store
// copy and backup (ExportRows, ImportRows: copy.go) included, and passes
// the whole conformance suite on dynalite, which is not DynamoDB (it has
// no transactions: the tests emulate them). OpenStore refuses a
// dynamodb:// URL unless BLACKWELL_DYNAMODB_EXPERIMENTAL=1 is set
// (docs/DEPLOYMENT.md).
//
// Tables (PREFIX is the URL's host part):
//
//   - PREFIXstate: the spec's blackwell-state, partition client_id, sort
//     stack_id; a global secondary index by_shard (shard, stack_key) lists
//     one shard's stacks at the cost of what it returns.
//   - PREFIXevent-mirror: the spec's event mirror, partition event_id; GSIs
//     by_client (client_id, timestamp) and by_provider (provider_name,
//     timestamp); TTL on ttl_timestamp.
//   - PREFIXdata: every other record, one table with composite keys (pk,
//     sk), one partition per access pattern (each file says its own).
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/blackwellio/blackwell/internal/store"
)

// ErrIncomplete: the driver is experimental (Open without the opt-in), or
// a copied table has no mapping onto its items (a table added to
// store.CopyTables without one).
var ErrIncomplete = errors.New("dynamodb store: experimental")

// ExperimentalEnv must be "1" for OpenStore to accept a dynamodb:// URL.
const ExperimentalEnv = "BLACKWELL_DYNAMODB_EXPERIMENTAL"

// API is the part of the DynamoDB client the driver calls; tests inject
// their own (faults dynalite cannot produce).
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	ListTables(context.Context, *dynamodb.ListTablesInput, ...func(*dynamodb.Options)) (*dynamodb.ListTablesOutput, error)
}

// Config names the tables and the service.
type Config struct {
	// Prefix begins every table name ("blackwell-" gives blackwell-state).
	Prefix   string
	Region   string
	Endpoint string // empty: AWS's own endpoint for Region
}

// ParseURL reads dynamodb://PREFIX?region=R[&endpoint=URL].
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("dynamodb store URL: %w", err)
	}
	if u.Scheme != "dynamodb" {
		return Config{}, fmt.Errorf("dynamodb store URL: scheme %q, want dynamodb", u.Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") {
		return Config{}, errors.New("dynamodb store URL: want dynamodb://PREFIX?region=R[&endpoint=URL] (no user or path)")
	}
	c := Config{Prefix: u.Host}
	if !validPrefix(c.Prefix) {
		return Config{}, fmt.Errorf("dynamodb store URL: table prefix %q: want 1 to 200 of [A-Za-z0-9_.-]", c.Prefix)
	}
	q := u.Query()
	for k := range q {
		if k != "region" && k != "endpoint" {
			return Config{}, fmt.Errorf("dynamodb store URL: unknown parameter %q (want region, endpoint)", k)
		}
	}
	c.Region, c.Endpoint = q.Get("region"), q.Get("endpoint")
	if c.Region == "" {
		return Config{}, errors.New("dynamodb store URL: region is required (?region=eu-west-1)")
	}
	if c.Endpoint != "" {
		e, err := url.Parse(c.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return Config{}, fmt.Errorf("dynamodb store URL: endpoint %q is not an http(s) URL", c.Endpoint)
		}
	}
	return c, nil
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 200 {
		return false
	}
	for _, r := range p {
		ok := r == '_' || r == '.' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// Store is the DynamoDB store.
type Store struct {
	api API
	cfg Config
	now func() time.Time
	// counted: every call the driver makes, by operation (PERFORMANCE.md).
	calls *callCounter
	// triggers: NotifyTriggers to ListenTriggers, in this process.
	triggers store.TriggerHub
	// streamWake: AppendStream and the commits with stream events to
	// WatchStream, in this process.
	streamWake waker
}

// Open opens (and migrates: creates the tables missing) the store a
// dynamodb:// URL names, on the SDK's default credential chain and its
// standard retryer (throttling and transient errors are retried with
// backoff).
func Open(ctx context.Context, raw string) (*Store, error) {
	if os.Getenv(ExperimentalEnv) != "1" {
		return nil, fmt.Errorf("%w: the dynamodb:// store is tested against dynalite only, not against DynamoDB itself; set %s=1 to use it anyway (docs/DEPLOYMENT.md)", ErrIncomplete, ExperimentalEnv)
	}
	cfg, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	client, err := NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return OpenWith(ctx, client, cfg)
}

// NewClient is the SDK client for cfg: credentials from the SDK's
// default chain (environment, shared files, the Lambda, ECS or EC2 role),
// or static ones against an explicit endpoint when the chain has none
// (a local peer checks only that requests are signed); the standard
// retryer. optFns adjust it (tests inject an HTTP client).
func NewClient(ctx context.Context, cfg Config, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region),
		config.WithRetryer(func() aws.Retryer { return retry.NewStandard() }))
	if err != nil {
		return nil, fmt.Errorf("dynamodb: load AWS config: %w", err)
	}
	if cfg.Endpoint != "" {
		if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
			awsCfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
	}
	return dynamodb.NewFromConfig(awsCfg, append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	}}, optFns...)...), nil
}

// OpenWith opens the store on a client of the caller's (tests inject
// faults through it), creating the tables that are missing.
func OpenWith(ctx context.Context, api API, cfg Config) (*Store, error) {
	calls := newCallCounter()
	s := &Store{api: counted{API: api, c: calls}, cfg: cfg, now: time.Now, calls: calls}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Calls returns how many calls of each DynamoDB operation the store has
// made, with the items and write capacity units of its writes.
func (s *Store) Calls() map[string]CallStat { return s.calls.snapshot() }

// Ping checks the store's tables answer.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table(tState))})
	if err != nil {
		return fmt.Errorf("ping dynamodb: %w", err)
	}
	return nil
}

// Close releases nothing: the SDK client holds no connection state that
// needs closing.
func (s *Store) Close() error { return nil }

func (s *Store) table(name string) string { return s.cfg.Prefix + name }

// Redact is a dynamodb:// URL fit for logs (it holds no secret, but the
// endpoint may carry a user).
func Redact(raw string) string {
	c, err := ParseURL(raw)
	if err != nil {
		return "dynamodb://?"
	}
	return "dynamodb://" + c.Prefix + "?region=" + c.Region
}
