package dynamodb

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CallStat counts one operation's calls and the write capacity units
// its transactions cost, as DynamoDB bills them (a transactional write
// is two units per KB of item, rounded up per item; reads are counted as
// calls only).
type CallStat struct {
	Calls int64 `json:"calls"`
	Items int64 `json:"items"`
	WCU   int64 `json:"wcu"`
}

type callCounter struct {
	mu sync.Mutex
	m  map[string]CallStat
}

func newCallCounter() *callCounter { return &callCounter{m: map[string]CallStat{}} }

func (c *callCounter) add(op string, items, wcu int64) {
	c.mu.Lock()
	st := c.m[op]
	st.Calls++
	st.Items += items
	st.WCU += wcu
	c.m[op] = st
	c.mu.Unlock()
}

func (c *callCounter) snapshot() map[string]CallStat {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]CallStat, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// counted is the API that counts the calls the store makes.
type counted struct {
	API
	c *callCounter
}

func (a counted) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	a.c.add("GetItem", 1, 0)
	return a.API.GetItem(ctx, in, o...)
}

func (a counted) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	a.c.add("PutItem", 1, kb(itemSize(in.Item)))
	return a.API.PutItem(ctx, in, o...)
}

func (a counted) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	a.c.add("UpdateItem", 1, 1)
	return a.API.UpdateItem(ctx, in, o...)
}

func (a counted) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	a.c.add("DeleteItem", 1, 1)
	return a.API.DeleteItem(ctx, in, o...)
}

func (a counted) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	a.c.add("Query", 0, 0)
	return a.API.Query(ctx, in, o...)
}

func (a counted) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	a.c.add("Scan", 0, 0)
	return a.API.Scan(ctx, in, o...)
}

func (a counted) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	a.c.add("BatchGetItem", 0, 0)
	return a.API.BatchGetItem(ctx, in, o...)
}

// TransactWriteItems counts two units per KB of each item written.
func (a counted) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	var wcu int64
	for _, it := range in.TransactItems {
		wcu += 2 * kb(txItemSize(it))
	}
	a.c.add("TransactWriteItems", int64(len(in.TransactItems)), wcu)
	return a.API.TransactWriteItems(ctx, in, o...)
}

func txItemSize(it types.TransactWriteItem) int {
	switch {
	case it.Put != nil:
		return itemSize(it.Put.Item)
	case it.Update != nil:
		return itemSize(it.Update.Key) + itemSize(it.Update.ExpressionAttributeValues)
	case it.Delete != nil:
		return itemSize(it.Delete.Key)
	case it.ConditionCheck != nil:
		return itemSize(it.ConditionCheck.Key)
	}
	return 0
}

// kb is n bytes in KB, rounded up, at least 1.
func kb(n int) int64 { return max(1, int64((n+1023)/1024)) }
