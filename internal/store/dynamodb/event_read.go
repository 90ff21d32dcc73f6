package dynamodb

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// ListEvents answers newest first by (Timestamp, seq). With a client it
// queries the by_client index, with a provider by_provider, each on the
// time range; with neither it scans the mirror (an operator's read).
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error) {
	var cursor string
	if q.Cursor != "" {
		if err := store.DecodeCursor(q.Cursor, &cursor); err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
	}
	limit := store.PageLimit(q.Limit)
	lo, hi := padMicros(-timeOffset+1), "~"
	if !q.Since.IsZero() {
		lo = padMicros(microsOf(q.Since))
	}
	if !q.Until.IsZero() {
		hi = padMicros(microsOf(q.Until)) // below every key at Until: exclusive
	}
	if cursor != "" && cursor < hi {
		hi = cursor // inclusive here: the cursor's own event is dropped below
	}
	var f filterExpr
	f.eq("event_type", q.EventType)
	var items []map[string]types.AttributeValue
	var err error
	switch {
	case q.ClientID != "" || q.ProviderName != "":
		items, err = s.queryEvents(ctx, q, f, lo, hi, limit+2)
	default:
		items, err = s.scanEvents(ctx, q, f, lo, hi)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	out := make([]store.Event, 0, len(items))
	keys := map[string]string{}
	for _, it := range items {
		k := getS(it, "timestamp")
		if k == cursor || k < lo || k > hi {
			continue
		}
		if len(out) == limit+1 {
			break
		}
		e := decodeEvent(it)
		keys[e.EventID] = k
		out = append(out, e)
	}
	page, next := store.NextPage(out, limit, func(e store.Event) []any { return []any{keys[e.EventID]} })
	return page, next, nil
}

func (s *Store) queryEvents(ctx context.Context, q store.EventQuery, f filterExpr, lo, hi string, want int) ([]map[string]types.AttributeValue, error) {
	idx, attr, v := idxClient, "client_id", q.ClientID
	if q.ClientID == "" {
		idx, attr, v = idxProvider, "provider_name", q.ProviderName
	} else {
		f.eq("provider_name", q.ProviderName)
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tEvents)), IndexName: aws.String(idx),
		KeyConditionExpression:    aws.String("#h = :h AND #ts BETWEEN :lo AND :hi"),
		ExpressionAttributeNames:  map[string]string{"#h": attr, "#ts": "timestamp"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(v), ":lo": str(lo), ":hi": str(hi)},
		ScanIndexForward:          aws.Bool(false)}
	f.apply(in)
	return s.queryPage(ctx, in, want)
}

func (s *Store) scanEvents(ctx context.Context, q store.EventQuery, f filterExpr, lo, hi string) ([]map[string]types.AttributeValue, error) {
	qin := &dynamodb.QueryInput{}
	f.apply(qin)
	items, err := s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tEvents)), ConsistentRead: aws.Bool(true),
		FilterExpression: qin.FilterExpression, ExpressionAttributeNames: qin.ExpressionAttributeNames,
		ExpressionAttributeValues: qin.ExpressionAttributeValues})
	if err != nil {
		return nil, err
	}
	sortItems(items, func(a, b map[string]types.AttributeValue) int {
		return strings.Compare(getS(b, "timestamp"), getS(a, "timestamp"))
	})
	return items, nil
}

// EventActivity reads the stack's and the client-wide activity items from
// since's hour, and their unchecked items. Its mark lists the sequence
// numbers it read (as ranges), so a pass marks exactly what it saw, even
// an event numbered before another but committed after the read.
func (s *Store) EventActivity(ctx context.Context, clientID, stackID string, since time.Time) (store.ActivityReport, error) {
	parts := []string{stackID}
	if stackID != "" {
		parts = append(parts, "")
	}
	rep := store.ActivityReport{Activity: []store.Activity{}}
	agg := map[[3]string]*store.Activity{}
	var seqs []int64
	var oldest int64
	var oldestRecv int64
	for _, st := range parts {
		acts, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression: aws.String("pk = :pk AND sk >= :from"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(activityPK(clientID, st)),
				":from": str(padMicros(hourOf(microsOf(since))))}})
		if err != nil {
			return store.ActivityReport{}, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
		}
		for _, it := range acts {
			if getN(it, "count") <= 0 {
				continue
			}
			k := [3]string{getS(it, "provider_name"), getS(it, "event_type"), getS(it, "content_type")}
			a, ok := agg[k]
			if !ok {
				a = &store.Activity{ProviderName: k[0], EventType: k[1], ContentType: k[2]}
				agg[k] = a
			}
			a.Count += int(getN(it, "count"))
			if l := micros(getN(it, "last")); l.After(a.Last) {
				a.Last = l
			}
		}
		unchecked, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(uncheckedPK(clientID, st))}})
		if err != nil {
			return store.ActivityReport{}, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
		}
		for _, it := range unchecked {
			seq := getN(it, "seq")
			seqs = append(seqs, seq)
			if oldest == 0 || seq < oldest {
				oldest, oldestRecv = seq, getN(it, "received_at")
			}
		}
	}
	for _, a := range agg {
		rep.Activity = append(rep.Activity, *a)
	}
	sort.Slice(rep.Activity, func(i, j int) bool {
		a, b := rep.Activity[i], rep.Activity[j]
		return a.ProviderName+"\x00"+a.EventType+"\x00"+a.ContentType < b.ProviderName+"\x00"+b.EventType+"\x00"+b.ContentType
	})
	if len(seqs) > 0 {
		rep.Unchecked = len(seqs)
		t := micros(oldestRecv)
		rep.OldestUnchecked = &t
		rep.Mark = encodeMark(seqs)
	}
	return rep, nil
}

// encodeMark is the mark of a read of unchecked events: their sequence
// numbers as ranges.
func encodeMark(seqs []int64) store.EventMark {
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	var ranges [][2]int64
	for _, q := range seqs {
		if n := len(ranges); n > 0 && ranges[n-1][1]+1 >= q {
			ranges[n-1][1] = max(ranges[n-1][1], q)
			continue
		}
		ranges = append(ranges, [2]int64{q, q})
	}
	return store.EventMark(store.EncodeCursor(ranges))
}

// markHas reports whether a mark covers seq (the zero mark covers none).
func decodeMark(m store.EventMark) (func(int64) bool, error) {
	if m == "" {
		return func(int64) bool { return false }, nil
	}
	var ranges [][2]int64
	if err := store.DecodeCursor(string(m), &ranges); err != nil {
		return nil, fmt.Errorf("event mark: %w", err)
	}
	return func(seq int64) bool {
		for _, r := range ranges {
			if seq >= r[0] && seq <= r[1] {
				return true
			}
		}
		return false
	}, nil
}
