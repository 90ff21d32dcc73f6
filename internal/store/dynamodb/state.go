package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// A state item: the keys, the shard and its GSI sort key, the revision
// (the condition of every write), the desired document as given, and the
// rest of the record as one JSON document (doc), as GetState returns it.

// stackKey orders a shard's stacks by client then stack: ids are
// [a-z0-9._-], all above the space that separates them.
func stackKey(clientID, stackID string) string { return clientID + " " + stackID }

func stateKey(clientID, stackID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"client_id": str(clientID), "stack_id": str(stackID)}
}

// storedRecord is rec as it is stored and read back: times truncated,
// documents normalised (store.StoredState).
func storedRecord(rec store.StateRecord) (store.StateRecord, error) {
	rec.CreatedAt, rec.UpdatedAt = store.Truncate(rec.CreatedAt), store.Truncate(rec.UpdatedAt)
	for _, p := range []**time.Time{&rec.LastApplied, &rec.LastVerified} {
		if *p != nil {
			t := store.Truncate(**p)
			*p = &t
		}
	}
	docs, err := store.EncodeStateDocs(rec)
	if err != nil {
		return store.StateRecord{}, err
	}
	return store.StoredState(rec, string(rec.Desired), docs)
}

// stateItem encodes a stored record (storedRecord) as its item.
func stateItem(rec store.StateRecord) (map[string]types.AttributeValue, error) {
	desired := rec.Desired
	rec.Desired = nil
	doc, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode state %s: %w", rec.Key(), err)
	}
	it := stateKey(rec.ClientID, rec.StackID)
	it["shard"] = num(int64(store.ShardOf(rec.ClientID, rec.StackID)))
	it["stack_key"] = str(stackKey(rec.ClientID, rec.StackID))
	it["revision"] = num(rec.Revision)
	it["doc"] = str(string(doc))
	if len(desired) > 0 {
		it["desired"] = str(string(desired))
	}
	if err := checkItem("state "+rec.Key(), it); err != nil {
		return nil, err
	}
	return it, nil
}

func decodeState(it map[string]types.AttributeValue) (store.StateRecord, error) {
	var rec store.StateRecord
	if err := json.Unmarshal([]byte(getS(it, "doc")), &rec); err != nil {
		return store.StateRecord{}, fmt.Errorf("decode state %s/%s: %w", getS(it, "client_id"), getS(it, "stack_id"), err)
	}
	if d := getS(it, "desired"); d != "" {
		rec.Desired = json.RawMessage(d)
	}
	rec.Revision = getN(it, "revision")
	return rec, nil
}

// getStateItem reads a stack's item, strongly consistent; nil when none.
func (s *Store) getStateItem(ctx context.Context, clientID, stackID string) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tState)),
		Key: stateKey(clientID, stackID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// GetState returns one stack's record, or store.ErrNotFound.
func (s *Store) GetState(ctx context.Context, clientID, stackID string) (store.StateRecord, error) {
	it, err := s.getStateItem(ctx, clientID, stackID)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("get state %s/%s: %w", clientID, stackID, err)
	}
	if it == nil {
		return store.StateRecord{}, fmt.Errorf("get state %s/%s: %w", clientID, stackID, store.ErrNotFound)
	}
	return decodeState(it)
}

// putState adds the write of rec (stored form, its new revision set) to
// t, conditional on the stored revision being prev (0: no item).
func putState(t *txn, table string, rec store.StateRecord, prev int64) error {
	it, err := stateItem(rec)
	if err != nil {
		return err
	}
	if prev == 0 {
		t.put(table, it, "attribute_not_exists(client_id)", nil)
	} else {
		t.put(table, it, "revision = :rev", map[string]types.AttributeValue{":rev": num(prev)})
	}
	return nil
}

// UpdateState writes rec if its Revision is the stored one; it keeps the
// stored creation time and hold.
func (s *Store) UpdateState(ctx context.Context, rec store.StateRecord) (store.StateRecord, error) {
	cur, err := s.GetState(ctx, rec.ClientID, rec.StackID)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("update state: %w", err)
	}
	if cur.Revision != rec.Revision {
		return store.StateRecord{}, fmt.Errorf("update state %s revision %d: %w", rec.Key(), rec.Revision, store.ErrConflict)
	}
	rec.CreatedAt, rec.Hold, rec.UpdatedAt = cur.CreatedAt, cur.Hold, s.now()
	rec.Revision = cur.Revision + 1
	out, err := storedRecord(rec)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("update state: %w", err)
	}
	var t txn
	if err := putState(&t, s.table(tState), out, cur.Revision); err != nil {
		return store.StateRecord{}, fmt.Errorf("update state: %w", err)
	}
	if err := s.commit(ctx, "update state "+rec.Key(), &t); err != nil {
		return store.StateRecord{}, err
	}
	return out, nil
}

// Unpin removes a stack's hold, returning it (nil: none, nothing written).
func (s *Store) Unpin(ctx context.Context, clientID, stackID string) (*store.Hold, error) {
	cur, err := s.GetState(ctx, clientID, stackID)
	if err != nil {
		return nil, fmt.Errorf("unpin: %w", err)
	}
	if cur.Hold == nil {
		return nil, nil
	}
	held := cur.Hold
	prev := cur.Revision
	cur.Hold, cur.UpdatedAt, cur.Revision = nil, store.Truncate(s.now()), prev+1
	var t txn
	if err := putState(&t, s.table(tState), cur, prev); err != nil {
		return nil, fmt.Errorf("unpin: %w", err)
	}
	if err := s.commit(ctx, "unpin "+cur.Key(), &t); err != nil {
		return nil, err
	}
	return held, nil
}

// ListStates lists stacks by client then stack; limit <= 0 means all.
// With a client it queries that client's partition; without, it scans
// the table and orders the stacks (a scan reads every stack whatever the
// page: listing every client is an operator's read, not a pass's).
func (s *Store) ListStates(ctx context.Context, clientID, cursor string, limit int) ([]store.StateRecord, store.Page, error) {
	items, limit, err := s.listStateItems(ctx, clientID, cursor, store.PageLimit(limit))
	if err != nil {
		return nil, "", fmt.Errorf("list states: %w", err)
	}
	out := make([]store.StateRecord, 0, len(items))
	for _, it := range items {
		rec, err := decodeState(it)
		if err != nil {
			return nil, "", fmt.Errorf("list states: %w", err)
		}
		out = append(out, rec)
	}
	out, next := store.NextPage(out, limit, store.StateKey)
	return out, next, nil
}

// ListStackApps lists a client's stacks with their applications, read
// from the documents here (DynamoDB has no JSON functions).
func (s *Store) ListStackApps(ctx context.Context, clientID string) ([]store.StackApp, error) {
	items, _, err := s.listStateItems(ctx, clientID, "", 0)
	if err != nil {
		return nil, fmt.Errorf("list applications of %s: %w", clientID, err)
	}
	out := make([]store.StackApp, 0, len(items))
	for _, it := range items {
		rec, err := decodeState(it)
		if err != nil {
			return nil, fmt.Errorf("list applications of %s: %w", clientID, err)
		}
		out = append(out, store.StackApp{StackID: rec.StackID, Environment: rec.Environment,
			App: store.AppNamed(rec.Desired), DesiredHash: rec.DesiredHash})
	}
	return out, nil
}

// ListStackRefs lists every stack's ids, by client and stack.
func (s *Store) ListStackRefs(ctx context.Context, cursor string, limit int) ([]store.StackRef, store.Page, error) {
	items, limit, err := s.listStateItems(ctx, "", cursor, store.PageLimit(limit))
	if err != nil {
		return nil, "", fmt.Errorf("list stacks: %w", err)
	}
	out, next := store.NextPage(refs(items), limit, store.StackRefKey)
	return out, next, nil
}

func refs(items []map[string]types.AttributeValue) []store.StackRef {
	out := make([]store.StackRef, 0, len(items))
	for _, it := range items {
		out = append(out, store.StackRef{ClientID: getS(it, "client_id"), StackID: getS(it, "stack_id")})
	}
	return out
}

// listStateItems reads the state items after the cursor, by client and
// stack, one more than limit (the page limit it answers; <= 0: all).
func (s *Store) listStateItems(ctx context.Context, clientID, cursor string, limit int) ([]map[string]types.AttributeValue, int, error) {
	var afterClient, afterStack string
	if cursor != "" {
		if err := store.DecodeCursor(cursor, &afterClient, &afterStack); err != nil {
			return nil, 0, err
		}
	}
	if limit > 0 {
		limit = store.PageLimit(limit)
	}
	var items []map[string]types.AttributeValue
	var err error
	if clientID != "" {
		in := &dynamodb.QueryInput{TableName: aws.String(s.table(tState)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("client_id = :c"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(clientID)}}
		if cursor != "" && afterClient == clientID {
			in.ExclusiveStartKey = stateKey(afterClient, afterStack)
		}
		want := 0 // all
		if limit > 0 {
			want = limit + 1
			in.Limit = aws.Int32(int32(want))
		}
		items, err = s.queryPage(ctx, in, want)
	} else {
		items, err = s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tState)), ConsistentRead: aws.Bool(true)})
		sortByStack(items)
	}
	if err != nil {
		return nil, 0, err
	}
	items = afterKey(items, cursor != "", afterClient, afterStack)
	if limit > 0 && len(items) > limit+1 {
		items = items[:limit+1]
	}
	return items, limit, nil
}

func sortByStack(items []map[string]types.AttributeValue) {
	sortItems(items, func(a, b map[string]types.AttributeValue) int {
		return strings.Compare(stackKey(getS(a, "client_id"), getS(a, "stack_id")), stackKey(getS(b, "client_id"), getS(b, "stack_id")))
	})
}

// afterKey drops the items at or before (client, stack).
func afterKey(items []map[string]types.AttributeValue, on bool, client, stack string) []map[string]types.AttributeValue {
	if !on {
		return items
	}
	after := stackKey(client, stack)
	out := items[:0:0]
	for _, it := range items {
		if stackKey(getS(it, "client_id"), getS(it, "stack_id")) > after {
			out = append(out, it)
		}
	}
	return out
}

// queryPage runs a query until it has want items (want <= 0: all).
func (s *Store) queryPage(ctx context.Context, in *dynamodb.QueryInput, want int) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for {
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if len(res.LastEvaluatedKey) == 0 || (want > 0 && len(out) >= want) {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// ListShardStacks lists one shard's stacks through the by_shard index, at
// the cost of what it returns.
func (s *Store) ListShardStacks(ctx context.Context, q store.ShardStacksQuery) ([]store.StackRef, store.Page, error) {
	if q.Shard < 0 || q.Shard >= store.Shards {
		return nil, "", fmt.Errorf("list stacks of shard %d: no such shard (0 to %d)", q.Shard, store.Shards-1)
	}
	limit := store.PageLimit(q.Limit)
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tState)), IndexName: aws.String(idxShard),
		KeyConditionExpression:    aws.String("#sh = :s"),
		ExpressionAttributeNames:  map[string]string{"#sh": "shard"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": num(int64(q.Shard))},
		Limit:                     aws.Int32(int32(limit + 1))}
	if q.Cursor != "" {
		var c, st string
		if err := store.DecodeCursor(q.Cursor, &c, &st); err != nil {
			return nil, "", fmt.Errorf("list stacks of shard %d: %w", q.Shard, err)
		}
		in.KeyConditionExpression = aws.String("#sh = :s AND stack_key > :k")
		in.ExpressionAttributeValues[":k"] = str(stackKey(c, st))
	}
	items, err := s.queryPage(ctx, in, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list stacks of shard %d: %w", q.Shard, err)
	}
	if len(items) > limit+1 {
		items = items[:limit+1]
	}
	out, next := store.NextPage(refs(items), limit, store.StackRefKey)
	return out, next, nil
}

// versionKey orders a stack's versions: vX.Y.Z with each part padded.
func versionKey(v string) string {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	var b strings.Builder
	b.WriteString("V")
	for _, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return "V~" + v // not semver: after every padded one
		}
		fmt.Fprintf(&b, "%010d", n)
	}
	return b.String()
}

func versionsPK(clientID, stackID string) string { return "VER/" + clientID + "/" + stackID }
