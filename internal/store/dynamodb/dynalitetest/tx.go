package dynalitetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	dyn "github.com/blackwellio/blackwell/internal/store/dynamodb"
)

// TxAPI is a DynamoDB client for dynalite, which implements no
// TransactWriteItems: it serialises every call of one store (writes
// exclusive, reads shared) and performs a transaction as its conditional
// writes one after the other, undoing those made when one's condition
// fails (from the old images the writes return), answering DynamoDB's
// TransactionCanceledException with its cancellation reasons. It is all
// or nothing and isolated only among the calls made through it: the
// tests' stores each have one, and nothing else writes their tables.
type TxAPI struct {
	dyn.API
	mu   sync.RWMutex
	keys sync.Map // table name -> []string, its key attributes
}

// NewTxAPI wraps a client of dynalite.
func NewTxAPI(api dyn.API) *TxAPI { return &TxAPI{API: api} }

// GetItem reads under the shared lock.
func (a *TxAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.API.GetItem(ctx, in, o...)
}

// Query reads under the shared lock.
func (a *TxAPI) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.API.Query(ctx, in, o...)
}

// Scan reads under the shared lock.
func (a *TxAPI) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.API.Scan(ctx, in, o...)
}

// PutItem writes under the exclusive lock.
func (a *TxAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.API.PutItem(ctx, in, o...)
}

// UpdateItem writes under the exclusive lock.
func (a *TxAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.API.UpdateItem(ctx, in, o...)
}

// DeleteItem writes under the exclusive lock.
func (a *TxAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.API.DeleteItem(ctx, in, o...)
}

// undo restores one item as it was before a write of the transaction.
type undo struct {
	table string
	key   map[string]types.AttributeValue
	old   map[string]types.AttributeValue // nil: there was no item
}

// TransactWriteItems performs the writes in order, all or none.
func (a *TxAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if n := len(in.TransactItems); n == 0 || n > dyn.MaxTxItems {
		return nil, fmt.Errorf("ValidationException: %d transaction items, want 1 to %d", n, dyn.MaxTxItems)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.distinct(ctx, in.TransactItems); err != nil {
		return nil, err
	}
	var undos []undo
	for i, item := range in.TransactItems {
		u, err := a.apply(ctx, item)
		if err == nil {
			undos = append(undos, u)
			continue
		}
		if rerr := a.rollback(ctx, undos); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		var cf *types.ConditionalCheckFailedException
		if !errors.As(err, &cf) {
			return nil, err
		}
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for j := range reasons {
			reasons[j].Code = aws.String("None")
		}
		reasons[i].Code = aws.String("ConditionalCheckFailed")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled (emulated)"), CancellationReasons: reasons}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// apply performs one write of a transaction, returning how to undo it.
func (a *TxAPI) apply(ctx context.Context, item types.TransactWriteItem) (undo, error) {
	switch {
	case item.Put != nil:
		p := item.Put
		key, err := a.keyOf(ctx, aws.ToString(p.TableName), p.Item)
		if err != nil {
			return undo{}, err
		}
		out, err := a.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
			ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues, ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			return undo{}, err
		}
		return undo{table: aws.ToString(p.TableName), key: key, old: out.Attributes}, nil
	case item.Update != nil:
		u := item.Update
		out, err := a.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
			ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
			ExpressionAttributeValues: u.ExpressionAttributeValues, ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			return undo{}, err
		}
		return undo{table: aws.ToString(u.TableName), key: u.Key, old: out.Attributes}, nil
	case item.Delete != nil:
		d := item.Delete
		out, err := a.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: d.TableName, Key: d.Key, ConditionExpression: d.ConditionExpression,
			ExpressionAttributeNames: d.ExpressionAttributeNames, ExpressionAttributeValues: d.ExpressionAttributeValues, ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			return undo{}, err
		}
		return undo{table: aws.ToString(d.TableName), key: d.Key, old: out.Attributes}, nil
	case item.ConditionCheck != nil:
		return a.conditionCheck(ctx, item.ConditionCheck)
	}
	return undo{}, errors.New("ValidationException: empty transaction item")
}

// conditionCheck evaluates a condition by a conditional write of a probe
// attribute, undone at once (the write is the only way dynalite evaluates
// a condition).
func (a *TxAPI) conditionCheck(ctx context.Context, c *types.ConditionCheck) (undo, error) {
	names := map[string]string{"#txprobe": "txprobe"}
	for k, v := range c.ExpressionAttributeNames {
		names[k] = v
	}
	vals := map[string]types.AttributeValue{":txprobe": &types.AttributeValueMemberBOOL{Value: true}}
	for k, v := range c.ExpressionAttributeValues {
		vals[k] = v
	}
	out, err := a.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: c.TableName, Key: c.Key,
		UpdateExpression: aws.String("SET #txprobe = :txprobe"), ConditionExpression: c.ConditionExpression,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals, ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		return undo{}, err
	}
	u := undo{table: aws.ToString(c.TableName), key: c.Key, old: out.Attributes}
	return undo{}, a.rollback(ctx, []undo{u})
}

// rollback undoes writes, last first.
func (a *TxAPI) rollback(ctx context.Context, undos []undo) error {
	for i := len(undos) - 1; i >= 0; i-- {
		u := undos[i]
		if u.table == "" {
			continue
		}
		var err error
		if u.old == nil {
			_, err = a.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(u.table), Key: u.key})
		} else {
			_, err = a.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(u.table), Item: u.old})
		}
		if err != nil {
			return fmt.Errorf("emulated transaction: rollback of %s: %w", u.table, err)
		}
	}
	return nil
}

// distinct refuses two writes of one item, as DynamoDB does.
func (a *TxAPI) distinct(ctx context.Context, items []types.TransactWriteItem) error {
	seen := map[string]bool{}
	for _, item := range items {
		table, key, err := a.target(ctx, item)
		if err != nil {
			return err
		}
		id := table + "\x00" + keyString(key)
		if seen[id] {
			return fmt.Errorf("ValidationException: Transaction request cannot include multiple operations on one item (%s)", id)
		}
		seen[id] = true
	}
	return nil
}

func (a *TxAPI) target(ctx context.Context, item types.TransactWriteItem) (string, map[string]types.AttributeValue, error) {
	switch {
	case item.Put != nil:
		k, err := a.keyOf(ctx, aws.ToString(item.Put.TableName), item.Put.Item)
		return aws.ToString(item.Put.TableName), k, err
	case item.Update != nil:
		return aws.ToString(item.Update.TableName), item.Update.Key, nil
	case item.Delete != nil:
		return aws.ToString(item.Delete.TableName), item.Delete.Key, nil
	case item.ConditionCheck != nil:
		return aws.ToString(item.ConditionCheck.TableName), item.ConditionCheck.Key, nil
	}
	return "", nil, errors.New("ValidationException: empty transaction item")
}

// keyOf picks an item's key attributes (the table's key schema, read once).
func (a *TxAPI) keyOf(ctx context.Context, table string, it map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	names, ok := a.keys.Load(table)
	if !ok {
		out, err := a.API.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return nil, err
		}
		var ks []string
		for _, k := range out.Table.KeySchema {
			ks = append(ks, aws.ToString(k.AttributeName))
		}
		a.keys.Store(table, ks)
		names = ks
	}
	key := map[string]types.AttributeValue{}
	for _, n := range names.([]string) {
		key[n] = it[n]
	}
	return key, nil
}

func keyString(key map[string]types.AttributeValue) string {
	parts := make([]string, 0, len(key))
	for k, v := range key {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			parts = append(parts, k+"=S:"+v.Value)
		case *types.AttributeValueMemberN:
			parts = append(parts, k+"=N:"+v.Value)
		default:
			parts = append(parts, fmt.Sprintf("%s=%T", k, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// BatchGetItem reads under the shared lock.
func (a *TxAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.API.BatchGetItem(ctx, in, o...)
}
