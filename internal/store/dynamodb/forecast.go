package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// Forecasts: one partition per client ("FCAST/client", by stack, raise
// time and id), a pointer per id ("FCASTID/id"), a lock per open
// forecast's stack, code and component ("FCASTOPEN/...", naming it: at
// most one open), and a count of open forecasts per code ("FCASTCOUNT",
// by code), all moved in one transaction with the audit entries.

func forecastSK(f forecast.Forecast) string {
	return f.StackID + " " + padMicros(microsOf(f.RaisedAt)) + " " + f.ID
}

func forecastOpenKey(f forecast.Forecast) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("FCASTOPEN/" + f.ClientID + "/" + f.StackID + "/" + string(f.Code) + "/" + f.Component), "sk": str("-")}
}

func forecastItem(f forecast.Forecast) (map[string]types.AttributeValue, error) {
	f = store.StoredForecast(f)
	doc, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode forecast %s: %w", f.ID, err)
	}
	it := map[string]types.AttributeValue{"pk": str("FCAST/" + f.ClientID), "sk": str(forecastSK(f)), "doc": str(string(doc)),
		"open": &types.AttributeValueMemberBOOL{Value: f.ClearedAt == nil}}
	return it, checkItem("forecast "+f.ID, it)
}

func decodeForecast(it map[string]types.AttributeValue) (forecast.Forecast, error) {
	var f forecast.Forecast
	err := json.Unmarshal([]byte(getS(it, "doc")), &f)
	return f, err
}

// fcState is a forecast as a write leaves it.
type fcState struct {
	item map[string]types.AttributeValue // as read; nil: new
	f    forecast.Forecast
}

func (s *Store) loadForecast(ctx context.Context, id string) (*fcState, error) {
	ptr, err := s.getItem(ctx, map[string]types.AttributeValue{"pk": str("FCASTID/" + id), "sk": str("-")})
	if err != nil || ptr == nil {
		return nil, err
	}
	it, err := s.getItem(ctx, map[string]types.AttributeValue{"pk": ptr["fpk"], "sk": ptr["fsk"]})
	if err != nil || it == nil {
		return nil, err
	}
	f, err := decodeForecast(it)
	if err != nil {
		return nil, err
	}
	return &fcState{item: it, f: f}, nil
}

// WriteForecasts applies one evaluation and its audit in one transaction.
func (s *Store) WriteForecasts(ctx context.Context, w store.ForecastWrite) ([]forecast.Forecast, error) {
	if err := store.CheckForecastWrite(w); err != nil {
		return nil, err
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		out, err := s.tryWriteForecasts(ctx, w)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return out, err
	}
	return nil, fmt.Errorf("write forecasts: %w", store.ErrConflict)
}

func (s *Store) tryWriteForecasts(ctx context.Context, w store.ForecastWrite) ([]forecast.Forecast, error) {
	states := map[string]*fcState{}
	var order []string
	counts := map[drift.Code]int64{}
	var t txn
	touch := func(st *fcState) {
		if _, ok := states[st.f.ID]; !ok {
			order = append(order, st.f.ID)
		}
		states[st.f.ID] = st
	}
	get := func(id string) (*fcState, error) {
		if st, ok := states[id]; ok {
			return st, nil
		}
		return s.loadForecast(ctx, id)
	}
	raised := make([]forecast.Forecast, 0, len(w.Raise))
	for _, f := range w.Raise {
		lock, err := s.getItem(ctx, forecastOpenKey(f))
		if err != nil {
			return nil, err
		}
		if lock != nil {
			st, err := get(getS(lock, "id"))
			if err != nil || st == nil {
				return nil, fmt.Errorf("write forecasts: open forecast of %s: %w", f.Key(), errors.Join(err, store.ErrConflict))
			}
			st.f.ETA, st.f.Confidence, st.f.Class, st.f.Evidence = f.ETA, f.Confidence, f.Class, f.Evidence
			touch(st)
			raised = append(raised, store.StoredForecast(st.f))
			continue
		}
		lk := forecastOpenKey(f)
		lk["id"] = str(f.ID)
		t.put(s.table(tData), lk, "attribute_not_exists(pk)", nil)
		touch(&fcState{f: f})
		counts[f.Code]++
		raised = append(raised, store.StoredForecast(f))
	}
	for _, f := range w.Update {
		st, err := get(f.ID)
		if err != nil {
			return nil, err
		}
		if st != nil && st.f.ClearedAt == nil {
			st.f.ETA, st.f.Confidence, st.f.Class, st.f.Evidence = f.ETA, f.Confidence, f.Class, f.Evidence
			touch(st)
		}
	}
	for _, f := range w.Clear {
		st, err := get(f.ID)
		if err != nil {
			return nil, err
		}
		if st != nil && st.f.ClearedAt == nil {
			c := store.Truncate(*f.ClearedAt)
			st.f.ClearedAt = &c
			touch(st)
			counts[st.f.Code]--
			t.del(s.table(tData), forecastOpenKey(st.f))
		}
	}
	if err := s.putForecasts(&t, states, order, counts); err != nil {
		return nil, err
	}
	var entries []store.AuditEntry
	if len(w.Audit) > 0 {
		var err error
		if entries, err = s.chainAudit(ctx, &t, w.Audit); err != nil {
			return nil, err
		}
	}
	if err := s.commit(ctx, "write forecasts", &t); err != nil {
		return nil, err
	}
	copy(w.Audit, entries)
	return raised, nil
}

func (s *Store) putForecasts(t *txn, states map[string]*fcState, order []string, counts map[drift.Code]int64) error {
	for _, id := range order {
		st := states[id]
		it, err := forecastItem(st.f)
		if err != nil {
			return err
		}
		if st.item == nil {
			t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
			t.put(s.table(tData), map[string]types.AttributeValue{"pk": str("FCASTID/" + id), "sk": str("-"),
				"fpk": it["pk"], "fsk": it["sk"]}, "attribute_not_exists(pk)", nil)
		} else {
			t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": st.item["doc"]})
		}
	}
	for code, n := range counts {
		if n != 0 {
			t.update(&types.Update{TableName: aws.String(s.table(tData)),
				Key:              map[string]types.AttributeValue{"pk": str("FCASTCOUNT"), "sk": str(string(code))},
				UpdateExpression: aws.String("ADD #n :n"), ExpressionAttributeNames: map[string]string{"#n": "open"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n)}})
		}
	}
	return nil
}

// ListForecasts lists a client's forecasts by stack, RaisedAt and ID.
func (s *Store) ListForecasts(ctx context.Context, q store.ForecastQuery) ([]forecast.Forecast, store.Page, error) {
	if q.ClientID == "" {
		return nil, "", fmt.Errorf("list forecasts: %w: a client is required", store.ErrInvalid)
	}
	after := ""
	if q.Cursor != "" {
		var stack, id string
		var raised int64
		if err := store.DecodeCursor(q.Cursor, &stack, &raised, &id); err != nil {
			return nil, "", fmt.Errorf("list forecasts: %w", err)
		}
		after = stack + " " + padMicros(raised) + " " + id
	}
	limit := store.PageLimit(q.Limit)
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk AND sk > :after"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("FCAST/" + q.ClientID), ":after": str(after)}}
	if q.StackID != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND sk BETWEEN :lo AND :hi")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": str("FCAST/" + q.ClientID),
			":lo": str(max(after+"\x00", q.StackID+" ")), ":hi": str(q.StackID + " ~")}
	}
	if !q.IncludeCleared {
		in.FilterExpression = aws.String("#o = :t")
		in.ExpressionAttributeNames = map[string]string{"#o": "open"}
		in.ExpressionAttributeValues[":t"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	items, err := s.queryPage(ctx, in, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list forecasts: %w", err)
	}
	var out []forecast.Forecast
	for _, it := range items[:min(len(items), limit+1)] {
		f, err := decodeForecast(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, f)
	}
	out, next := store.NextPage(out, limit, store.ForecastKey)
	return out, next, nil
}

// OpenForecastCounts counts open forecasts per code.
func (s *Store) OpenForecastCounts(ctx context.Context) (map[drift.Code]int, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("FCASTCOUNT")}})
	if err != nil {
		return nil, fmt.Errorf("open forecast counts: %w", err)
	}
	out := map[drift.Code]int{}
	for _, it := range items {
		if n := getN(it, "open"); n > 0 {
			out[drift.Code(getS(it, "sk"))] = int(n)
		}
	}
	return out, nil
}
