package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// The organisation's policy is one item ("ORGPOLICY"). Compliance
// segments live in one partition ("COMPL", by Seq, zero-padded) so every
// listing reads them in Seq order; each stack's open segments have a
// pointer per rule ("COMPLOPEN/client/stack", by rule) naming the Seq,
// and the last Seq is a counter item ("COMPLSEQ") a write moves with a
// condition on its old value, so Seqs are given in commit order.

var (
	orgPolicyKey = map[string]types.AttributeValue{"pk": str("ORGPOLICY"), "sk": str("-")}
	complSeqKey  = map[string]types.AttributeValue{"pk": str("COMPLSEQ"), "sk": str("-")}
)

func complianceOpenPK(clientID, stackID string) string {
	return "COMPLOPEN/" + clientID + "/" + stackID
}

func complianceKey(seq int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("COMPL"), "sk": str(fmt.Sprintf("%020d", seq))}
}

// PutOrganizationPolicy replaces the organisation's policy.
func (s *Store) PutOrganizationPolicy(ctx context.Context, p store.OrganizationPolicyRecord) error {
	it := map[string]types.AttributeValue{"pk": orgPolicyKey["pk"], "sk": orgPolicyKey["sk"],
		"name": str(p.Name), "document": str(string(p.Document)), "updated_at": num(microsOf(p.UpdatedAt))}
	if err := checkItem("organization policy", it); err != nil {
		return fmt.Errorf("put organization policy: %w", err)
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table(tData)), Item: it}); err != nil {
		return fmt.Errorf("put organization policy: %w", err)
	}
	return nil
}

// SwapOrganizationPolicy replaces the organisation's policy if it is
// still old (a put conditioned on the stored name and document).
func (s *Store) SwapOrganizationPolicy(ctx context.Context, old, p store.OrganizationPolicyRecord) error {
	it := map[string]types.AttributeValue{"pk": orgPolicyKey["pk"], "sk": orgPolicyKey["sk"],
		"name": str(p.Name), "document": str(string(p.Document)), "updated_at": num(microsOf(p.UpdatedAt))}
	if err := checkItem("organization policy", it); err != nil {
		return fmt.Errorf("swap organization policy: %w", err)
	}
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table(tData)), Item: it,
		ConditionExpression:       aws.String("#n = :name AND document = :doc"),
		ExpressionAttributeNames:  map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":name": str(old.Name), ":doc": str(string(old.Document))}})
	if isConditionFailed(err) {
		return fmt.Errorf("swap organization policy: %w: the organization policy changed since it was read", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("swap organization policy: %w", err)
	}
	return nil
}

// GetOrganizationPolicy returns the organisation's policy, or ErrNotFound.
func (s *Store) GetOrganizationPolicy(ctx context.Context) (store.OrganizationPolicyRecord, error) {
	it, err := s.getItem(ctx, orgPolicyKey)
	if err != nil {
		return store.OrganizationPolicyRecord{}, fmt.Errorf("get organization policy: %w", err)
	}
	if it == nil {
		return store.OrganizationPolicyRecord{}, fmt.Errorf("get organization policy: %w", store.ErrNotFound)
	}
	return store.OrganizationPolicyRecord{Name: getS(it, "name"), Document: json.RawMessage(getS(it, "document")),
		UpdatedAt: micros(getN(it, "updated_at"))}, nil
}

func complianceItem(c store.ComplianceSegment) (map[string]types.AttributeValue, error) {
	it := complianceKey(c.Seq)
	it["seq"], it["client_id"], it["stack_id"] = num(c.Seq), str(c.ClientID), str(c.StackID)
	it["rule"], it["mode"], it["status"] = str(c.Rule), str(c.Mode), str(c.Status)
	it["started_at"] = num(microsOf(c.StartedAt))
	if c.Message != "" {
		it["message"] = str(c.Message)
	}
	return it, checkItem(fmt.Sprintf("compliance of %s/%s rule %s", c.ClientID, c.StackID, c.Rule), it)
}

func decodeCompliance(it map[string]types.AttributeValue) store.ComplianceSegment {
	c := store.ComplianceSegment{Seq: getN(it, "seq"), ClientID: getS(it, "client_id"), StackID: getS(it, "stack_id"),
		Rule: getS(it, "rule"), Mode: getS(it, "mode"), Status: getS(it, "status"), Message: getS(it, "message"),
		StartedAt: micros(getN(it, "started_at"))}
	if _, ok := it["ended_at"]; ok {
		e := micros(getN(it, "ended_at"))
		c.EndedAt = &e
	}
	return c
}

// openCompliance reads the stack's open segments through their pointers
// (the pointers as read, by rule, for the conditions of a write).
func (s *Store) openCompliance(ctx context.Context, clientID, stackID string) ([]store.ComplianceSegment, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(complianceOpenPK(clientID, stackID))}})
	if err != nil {
		return nil, fmt.Errorf("read compliance of %s/%s: %w", clientID, stackID, err)
	}
	out := make([]store.ComplianceSegment, 0, len(items))
	for _, it := range items {
		out = append(out, store.ComplianceSegment{Seq: getN(it, "seq"), ClientID: clientID, StackID: stackID,
			Rule: getS(it, "sk"), Mode: getS(it, "mode"), Status: getS(it, "status")})
	}
	return out, nil
}

// RecordCompliance writes one evaluation of a stack (store.PlanCompliance)
// in one transaction, retried when another write moved the stack's open
// segments or the Seq counter in between.
func (s *Store) RecordCompliance(ctx context.Context, w store.ComplianceWrite) (int, error) {
	if err := store.CheckComplianceWrite(w); err != nil {
		return 0, err
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		n, err := s.tryRecordCompliance(ctx, w)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return n, err
	}
	return 0, fmt.Errorf("record compliance %s/%s: %w", w.ClientID, w.StackID, store.ErrConflict)
}

func (s *Store) tryRecordCompliance(ctx context.Context, w store.ComplianceWrite) (int, error) {
	open, err := s.openCompliance(ctx, w.ClientID, w.StackID)
	if err != nil {
		return 0, err
	}
	plan := store.PlanCompliance(open, w)
	if plan.Empty() {
		return 0, nil
	}
	var t txn
	closed := map[string]int64{} // rule: Seq closed
	for _, c := range open {
		if slices.Contains(plan.Close, c.Seq) {
			closed[c.Rule] = c.Seq
			t.update(&types.Update{TableName: aws.String(s.table(tData)), Key: complianceKey(c.Seq),
				UpdateExpression: aws.String("SET ended_at = :at"), ConditionExpression: aws.String("attribute_exists(pk) AND attribute_not_exists(ended_at)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(microsOf(w.At))}})
		}
	}
	if len(plan.Open) > 0 {
		if err := s.openSegments(ctx, &t, plan.Open, closed); err != nil {
			return 0, err
		}
	}
	for rule, seq := range closed { // closed and not reopened
		t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table(tData)),
			Key:                       map[string]types.AttributeValue{"pk": str(complianceOpenPK(w.ClientID, w.StackID)), "sk": str(rule)},
			ConditionExpression:       aws.String("seq = :seq"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":seq": num(seq)}}})
		t.bytes += len(rule) + 64
	}
	if err := s.commit(ctx, fmt.Sprintf("record compliance %s/%s", w.ClientID, w.StackID), &t); err != nil {
		return 0, err
	}
	return len(plan.Close) + len(plan.Open), nil
}

// openSegments adds to t the new segments, their pointers (replacing the
// pointer of a segment closed for the same rule, which it deletes from
// closed) and the move of the Seq counter.
func (s *Store) openSegments(ctx context.Context, t *txn, segs []store.ComplianceSegment, closed map[string]int64) error {
	ctr, err := s.getItem(ctx, complSeqKey)
	if err != nil {
		return fmt.Errorf("record compliance: read the sequence: %w", err)
	}
	last := getN(ctr, "seq")
	for i, c := range segs {
		c.Seq = last + int64(i) + 1
		it, err := complianceItem(c)
		if err != nil {
			return fmt.Errorf("record compliance: %w", err)
		}
		t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
		ptr := map[string]types.AttributeValue{"pk": str(complianceOpenPK(c.ClientID, c.StackID)), "sk": str(c.Rule),
			"seq": num(c.Seq), "mode": str(c.Mode), "status": str(c.Status)}
		if old, ok := closed[c.Rule]; ok {
			t.put(s.table(tData), ptr, "seq = :old", map[string]types.AttributeValue{":old": num(old)})
			delete(closed, c.Rule)
		} else {
			t.put(s.table(tData), ptr, "attribute_not_exists(pk)", nil)
		}
	}
	next := map[string]types.AttributeValue{"pk": complSeqKey["pk"], "sk": complSeqKey["sk"], "seq": num(last + int64(len(segs)))}
	if ctr == nil {
		t.put(s.table(tData), next, "attribute_not_exists(pk)", nil)
	} else {
		t.put(s.table(tData), next, "seq = :last", map[string]types.AttributeValue{":last": num(last)})
	}
	return nil
}

// ListCompliance lists segments by Seq.
func (s *Store) ListCompliance(ctx context.Context, q store.ComplianceQuery) ([]store.ComplianceSegment, store.Page, error) {
	var after int64
	if q.Cursor != "" {
		if err := store.DecodeCursor(q.Cursor, &after); err != nil {
			return nil, "", fmt.Errorf("list compliance: %w", err)
		}
	}
	var f filterExpr
	f.eq("client_id", q.ClientID)
	f.eq("stack_id", q.StackID)
	if q.OpenOnly {
		f.conds = append(f.conds, "attribute_not_exists(ended_at)")
	}
	if !q.From.IsZero() {
		f.cond("(attribute_not_exists(ended_at) OR ended_at > :from)", ":from", num(microsOf(q.From)))
	}
	if !q.To.IsZero() {
		f.cond("started_at < :to", ":to", num(microsOf(q.To)))
	}
	limit := store.PageLimit(q.Limit)
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk AND sk > :after"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("COMPL"), ":after": complianceKey(after)["sk"]}}
	f.apply(in)
	items, err := s.queryPage(ctx, in, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list compliance: %w", err)
	}
	out := make([]store.ComplianceSegment, 0, min(len(items), limit+1))
	for _, it := range items[:min(len(items), limit+1)] {
		out = append(out, decodeCompliance(it))
	}
	out, next := store.NextPage(out, limit, store.ComplianceKey)
	return out, next, nil
}
