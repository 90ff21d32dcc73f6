package dynamodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
	dyn "github.com/blackwellio/blackwell/internal/store/dynamodb"
)

// diff is the calls made between two snapshots, in total, and the write
// capacity units.
func diff(before, after map[string]dyn.CallStat) (calls int64, wcu int64, byOp map[string]int64) {
	byOp = map[string]int64{}
	for op, a := range after {
		n := a.Calls - before[op].Calls
		if n > 0 {
			byOp[op] = n
		}
		calls += n
		wcu += a.WCU - before[op].WCU
	}
	return calls, wcu, byOp
}

// TestCallsPerPass measures what one steady-state pass (GetState,
// EventActivity, ListDrifts, CommitPass of state, one open drift, result,
// one audit entry) and one webhook (IngestEvents of an event with its
// content item) cost in DynamoDB calls and write units: these carry over
// to DynamoDB (docs/PERFORMANCE.md). It bounds them, so a change that
// adds calls to the hot paths fails here.
func TestCallsPerPass(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{"stack":"shop"}`)}})
	require.NoError(t, err)
	d := drift.Drift{ID: "d1", ClientID: "acme", StackID: "shop", Code: drift.WebhookBroken, Type: drift.TypeIntegration,
		Component: "c", Severity: drift.SeverityHigh, DetectedAt: now, FirstSeen: now, LastSeen: now, Observations: 1}
	pass := func(n int) {
		st, err := s.GetState(ctx, "acme", "shop")
		require.NoError(t, err)
		act, err := s.EventActivity(ctx, "acme", "shop", now.Add(-time.Hour))
		require.NoError(t, err)
		_, err = s.ListDrifts(ctx, store.DriftQuery{ClientID: "acme", StackID: "shop"})
		require.NoError(t, err)
		id := fmt.Sprintf("r%d", n)
		_, err = s.CommitPass(ctx, store.Pass{State: st, Drifts: []drift.Drift{d}, CheckedThrough: act.Mark,
			Result: store.ReconciliationResult{ReconciliationID: id, StartedAt: now, CompletedAt: now, Status: store.ResultSuccess},
			Audit:  []store.AuditEntry{{Action: "reconcile", ClientID: "acme", StackID: "shop", ReconciliationID: id}}})
		require.NoError(t, err)
	}
	pass(0) // the first pass creates the drift
	before := s.Calls()
	pass(1)
	calls, wcu, byOp := diff(before, s.Calls())
	t.Logf("steady pass: %d calls %v, %d WCU", calls, byOp, wcu)
	require.LessOrEqual(t, calls, int64(12))
	require.Equal(t, int64(1), byOp["TransactWriteItems"], "one transaction per pass")

	before = s.Calls()
	e := store.Event{EventID: "e1", ClientID: "acme", ProviderName: "shopify", EventType: "products/update", ContentID: "p1",
		ContentType: "product", Timestamp: now, Payload: json.RawMessage(`{"id":1}`)}
	_, err = s.IngestEvents(ctx, []store.IngestEvent{{Event: e, Content: &store.ContentItem{ProviderName: "shopify", ContentID: "p1", UpdatedAt: now}}})
	require.NoError(t, err)
	calls, wcu, byOp = diff(before, s.Calls())
	t.Logf("webhook: %d calls %v, %d WCU", calls, byOp, wcu)
	require.LessOrEqual(t, calls, int64(6))

	before = s.Calls()
	pass(2) // a pass that marks the event checked
	calls, wcu, byOp = diff(before, s.Calls())
	t.Logf("pass marking one event checked: %d calls %v, %d WCU", calls, byOp, wcu)
}

// TestListStatesAllPastOnePage: ListStates with no limit answers every
// stack of a client even when they take more than one DynamoDB page
// (1 MB).
func TestListStatesAllPastOnePage(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	pad := make([]byte, 3000)
	for i := range pad {
		pad[i] = 'x'
	}
	var in []store.DesiredInput
	for i := range 400 {
		in = append(in, store.DesiredInput{ClientID: "acme", StackID: fmt.Sprintf("s%03d", i), Hash: "h",
			Document: json.RawMessage(fmt.Sprintf(`{"pad":%q}`, pad))})
	}
	_, err := s.ApplyDesired(ctx, in)
	require.NoError(t, err)
	before := s.Calls()["Query"].Calls
	recs, err := store.AllStates(ctx, s, "acme")
	require.NoError(t, err)
	require.Equal(t, 400, len(recs), "every stack")
	require.Greater(t, s.Calls()["Query"].Calls-before, int64(1), "the listing took more than one page")
}

// capacity asks DynamoDB (here dynalite) for the capacity each
// non-transactional call consumed, and sums it by operation.
// Transactions go on unchanged: dynalite has none (the tests' emulation
// makes them of plain writes), so their units are the driver's own count.
type capacity struct {
	dyn.API
	mu    sync.Mutex
	units map[string]float64
}

func (c *capacity) add(op string, cc ...types.ConsumedCapacity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range cc {
		c.units[op] += aws.ToFloat64(x.CapacityUnits)
	}
}

func (c *capacity) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.API.GetItem(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		c.add("GetItem", *out.ConsumedCapacity)
	}
	return out, err
}

func (c *capacity) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.API.Query(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		c.add("Query", *out.ConsumedCapacity)
	}
	return out, err
}

func (c *capacity) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.API.BatchGetItem(ctx, in, o...)
	if err == nil {
		c.add("BatchGetItem", out.ConsumedCapacity...)
	}
	return out, err
}

func (c *capacity) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.API.UpdateItem(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		c.add("UpdateItem", *out.ConsumedCapacity)
	}
	return out, err
}

// TestCapacityPerWebhook measures the capacity units one webhook (an
// event with its content item) consumes as dynalite reports them for the
// reads and the plain write (the event sequence), and the transaction's
// write units as DynamoDB bills them (two per KB of each item: the
// driver's count). Read units are of strongly consistent reads (one per
// 4 KB). Recorded in docs/PERFORMANCE.md.
func TestCapacityPerWebhook(t *testing.T) {
	ctx := context.Background()
	base := newTestStore(t)
	c := &capacity{units: map[string]float64{}}
	s := reopen(t, base, func(api dyn.API) dyn.API { c.API = api; return c })
	now := time.Now().UTC()
	webhook := func(i int) (map[string]float64, int64, int64) {
		c.mu.Lock()
		c.units = map[string]float64{}
		c.mu.Unlock()
		before := s.Calls()
		id := fmt.Sprintf("e%d", i)
		e := store.Event{EventID: id, ClientID: "acme", StackID: "shop", ProviderName: "shopify", EventType: "products/update",
			ContentID: "p1", ContentType: "product", Timestamp: now.Add(time.Duration(i) * time.Second),
			Payload: json.RawMessage(`{"id":1,"title":"a product of a typical size, a few hundred bytes of JSON"}`)}
		ins, err := s.IngestEvents(ctx, []store.IngestEvent{{Event: e, Content: &store.ContentItem{ProviderName: "shopify",
			ContentID: "p1", UpdatedAt: now.Add(time.Duration(i) * time.Second)}}})
		require.NoError(t, err)
		require.Equal(t, []bool{true}, ins)
		calls, wcu, _ := diff(before, s.Calls())
		c.mu.Lock()
		defer c.mu.Unlock()
		return maps.Clone(c.units), calls, wcu
	}
	webhook(0) // the first creates the content and activity items
	units, calls, wcu := webhook(1)
	var reads float64
	for _, op := range []string{"GetItem", "Query", "BatchGetItem"} {
		reads += units[op]
	}
	t.Logf("webhook: %d calls; read units (dynalite) %v = %.1f; UpdateItem (dynalite) %.1f write units; the driver's count of write units %d",
		calls, units, reads, units["UpdateItem"], wcu)
	require.Positive(t, reads, "dynalite reports the capacity of reads")
	require.LessOrEqual(t, reads, 4.0, "a webhook reads at most a few small items")
	require.Equal(t, 1.0, units["UpdateItem"], "the event sequence is one small item")
	require.LessOrEqual(t, wcu, int64(10))
}
