package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func getS(it map[string]types.AttributeValue, k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it map[string]types.AttributeValue, k string) int64 {
	if v, ok := it[k].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func getBool(it map[string]types.AttributeValue, k string) bool {
	v, ok := it[k].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

func micros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func microsOf(t time.Time) int64 { return store.Truncate(t).UnixMicro() }

// isConditionFailed: a conditional write's condition did not hold.
func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// translate maps DynamoDB's optimistic-concurrency failures to
// store.ErrConflict: a failed condition, a transaction cancelled for a
// failed condition or a conflicting transaction.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if isConditionFailed(err) {
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for i, r := range tc.CancellationReasons {
			if c := deref(r.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
				return &txConflict{index: i, err: err}
			}
		}
	}
	var tcf *types.TransactionConflictException
	if errors.As(err, &tcf) {
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// queryAll runs a query to its end.
func (s *Store) queryAll(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for {
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// scanAll scans a table to its end.
func (s *Store) scanAll(ctx context.Context, in *dynamodb.ScanInput) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for {
		res, err := s.api.Scan(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// txConflict is a transaction cancelled for the condition of (or a
// concurrent transaction on) its write number index: store.ErrConflict.
type txConflict struct {
	index int
	err   error
}

func (e *txConflict) Error() string {
	return fmt.Sprintf("%v: write %d: %v", store.ErrConflict, e.index, e.err)
}
func (e *txConflict) Is(target error) bool { return target == store.ErrConflict }
func (e *txConflict) Unwrap() error        { return e.err }

// conflictAt returns the index of the write a transaction was cancelled
// for, or -1.
func conflictAt(err error) int {
	var c *txConflict
	if errors.As(err, &c) {
		return c.index
	}
	return -1
}

func str2(s string) *string { return &s }

// getItem reads one item of the data table, strongly consistent; nil
// when there is none.
func (s *Store) getItem(ctx context.Context, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: str2(s.table(tData)), Key: key, ConsistentRead: boolPtr(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

func boolPtr(b bool) *bool { return &b }
