package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// DynamoDB's limits the driver checks before it calls, so a write that
// cannot be made fails whole with a clear error instead of half-way.
const (
	// MaxItemBytes is DynamoDB's item size limit (names and values).
	MaxItemBytes = 400 * 1024
	// MaxTxItems and MaxTxBytes are TransactWriteItems' limits.
	MaxTxItems = 100
	MaxTxBytes = 4 * 1024 * 1024
)

// ErrTooLarge: a record does not fit in a DynamoDB item (400 KB), or a
// write that must be atomic does not fit in one transaction. Nothing is
// written. It wraps store.ErrInvalid: the input is refused, not retried.
var ErrTooLarge = fmt.Errorf("%w: too large for DynamoDB", store.ErrInvalid)

// itemSize is an item's size as DynamoDB counts it: the UTF-8 bytes of
// attribute names and values (numbers counted as their text, an upper
// bound of DynamoDB's packed form).
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for k, v := range it {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		return 3 + itemSize(v.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	default:
		return 0
	}
}

// checkItem refuses an item over MaxItemBytes, naming it.
func checkItem(what string, it map[string]types.AttributeValue) error {
	if n := itemSize(it); n > MaxItemBytes {
		return fmt.Errorf("%s: %w: item of %d bytes, DynamoDB's limit is %d", what, ErrTooLarge, n, MaxItemBytes)
	}
	return nil
}

// txn collects the writes of one atomic unit: they go in one
// TransactWriteItems call, or not at all.
type txn struct {
	items []types.TransactWriteItem
	bytes int
}

func (t *txn) put(table string, it map[string]types.AttributeValue, cond string, vals map[string]types.AttributeValue) {
	p := &types.Put{TableName: aws.String(table), Item: it}
	if cond != "" {
		p.ConditionExpression, p.ExpressionAttributeValues = aws.String(cond), vals
	}
	t.items = append(t.items, types.TransactWriteItem{Put: p})
	t.bytes += itemSize(it)
}

// putNamed is put with a condition that may name "#open" (a reserved
// word) and compare it with ":f" (false).
func (t *txn) putNamed(table string, it map[string]types.AttributeValue, cond string, vals map[string]types.AttributeValue) {
	t.put(table, it, cond, vals)
	p := t.items[len(t.items)-1].Put
	if strings.Contains(cond, "#open") {
		p.ExpressionAttributeNames = map[string]string{"#open": "open"}
		if p.ExpressionAttributeValues == nil {
			p.ExpressionAttributeValues = map[string]types.AttributeValue{}
		}
		p.ExpressionAttributeValues[":f"] = &types.AttributeValueMemberBOOL{Value: false}
	}
}

func (t *txn) update(u *types.Update) {
	t.items = append(t.items, types.TransactWriteItem{Update: u})
	t.bytes += itemSize(u.Key) + len(deref(u.UpdateExpression)) + itemSize(u.ExpressionAttributeValues)
}

func (t *txn) del(table string, key map[string]types.AttributeValue) {
	t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(table), Key: key}})
	t.bytes += itemSize(key)
}

func (t *txn) check(c *types.ConditionCheck) {
	t.items = append(t.items, types.TransactWriteItem{ConditionCheck: c})
	t.bytes += itemSize(c.Key)
}

// fits says whether the writes fit in one TransactWriteItems call.
func (t *txn) fits() bool { return len(t.items) <= MaxTxItems && t.bytes <= MaxTxBytes }

// commit writes the transaction; a failed condition or a conflicting
// transaction is store.ErrConflict. One item goes as a plain write.
func (s *Store) commit(ctx context.Context, what string, t *txn) error {
	if len(t.items) == 0 {
		return nil
	}
	if !t.fits() {
		return fmt.Errorf("%s: %w: %d writes of %d bytes, one DynamoDB transaction holds at most %d writes and %d bytes",
			what, ErrTooLarge, len(t.items), t.bytes, MaxTxItems, MaxTxBytes)
	}
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: t.items})
	if err != nil {
		return fmt.Errorf("%s: %w", what, translate(err))
	}
	return nil
}

var errStop = errors.New("stop")
