package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Pipelines: one partition per client ("PIPELINE/client", by app).
// Promotions are rare (a person or a release asks for each): one
// partition ("PROMOTION", by id), as approvals. An unfinished promotion
// holds a lock item on its target stack ("PROMLOCK/client/stack")
// naming it, written only if absent and released when it finishes, so a
// stack never has two under way.

func promotionKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("PROMOTION"), "sk": str(id)}
}

func promotionLockKey(p store.Promotion) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("PROMLOCK/" + p.ClientID + "/" + p.ToStack), "sk": str("-")}
}

// PutPipeline upserts a pipeline document.
func (s *Store) PutPipeline(ctx context.Context, p store.PipelineRecord) error {
	it := map[string]types.AttributeValue{"pk": str("PIPELINE/" + p.ClientID), "sk": str(p.App), "client_id": str(p.ClientID),
		"document": str(string(p.Document)), "updated_at": num(microsOf(p.UpdatedAt))}
	if err := checkItem("pipeline "+p.ClientID+"/"+p.App, it); err != nil {
		return fmt.Errorf("put pipeline: %w", err)
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table(tData)), Item: it}); err != nil {
		return fmt.Errorf("put pipeline %s/%s: %w", p.ClientID, p.App, err)
	}
	return nil
}

// ListPipelines returns the client's pipelines by app.
func (s *Store) ListPipelines(ctx context.Context, clientID string) ([]store.PipelineRecord, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("PIPELINE/" + clientID)}})
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	var out []store.PipelineRecord
	for _, it := range items {
		out = append(out, store.PipelineRecord{ClientID: getS(it, "client_id"), App: getS(it, "sk"),
			Document: json.RawMessage(getS(it, "document")), UpdatedAt: micros(getN(it, "updated_at"))})
	}
	return out, nil
}

func promotionItem(p store.Promotion) (map[string]types.AttributeValue, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode promotion %s: %w", p.ID, err)
	}
	it := promotionKey(p.ID)
	it["client_id"], it["app"], it["doc"] = str(p.ClientID), str(p.App), str(string(doc))
	it["revision"], it["unfinished"] = num(p.Revision), &types.AttributeValueMemberBOOL{Value: p.Status.Unfinished()}
	return it, checkItem("promotion "+p.ID, it)
}

// CreatePromotion writes a new promotion, its approval request and audit
// in one transaction; store.ErrPromotionOpen while the target stack's
// lock names another.
func (s *Store) CreatePromotion(ctx context.Context, p store.Promotion, approval *store.Approval, audit []store.AuditEntry) (store.Promotion, error) {
	if err := store.CheckPromotion(p); err != nil {
		return store.Promotion{}, fmt.Errorf("create promotion: %w", err)
	}
	p = p.Stored()
	p.Revision = 1
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		err := s.tryCreatePromotion(ctx, p, approval, audit)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.Promotion{}, fmt.Errorf("create promotion %s: %w", p.ID, err)
		}
		return p, nil
	}
	return store.Promotion{}, fmt.Errorf("create promotion %s: %w", p.ID, store.ErrConflict)
}

func (s *Store) tryCreatePromotion(ctx context.Context, p store.Promotion, approval *store.Approval, audit []store.AuditEntry) error {
	var t txn
	if p.Status.Unfinished() {
		lock, err := s.getItem(ctx, promotionLockKey(p))
		if err != nil {
			return err
		}
		if lock != nil {
			return fmt.Errorf("%w: %s into %s/%s", store.ErrPromotionOpen, getS(lock, "id"), p.ClientID, p.ToStack)
		}
		lk := promotionLockKey(p)
		lk["id"] = str(p.ID)
		t.put(s.table(tData), lk, "attribute_not_exists(pk)", nil)
	}
	old, err := s.getItem(ctx, promotionKey(p.ID))
	if err != nil {
		return err
	}
	if old != nil {
		return fmt.Errorf("%w: promotion %s exists", store.ErrInvalid, p.ID)
	}
	it, err := promotionItem(p)
	if err != nil {
		return err
	}
	t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
	if approval != nil {
		a := storedApproval(*approval)
		ait, err := approvalItem(a)
		if err != nil {
			return err
		}
		t.put(s.table(tData), ait, "attribute_not_exists(pk)", nil)
		if openApproval(a.Status) {
			lk := lockKey(a)
			lk["id"] = str(a.ID)
			t.put(s.table(tData), lk, "attribute_not_exists(pk)", nil)
		}
	}
	return s.commitWithAudit(ctx, "create promotion "+p.ID, &t, audit)
}

// commitWithAudit chains audit (if any) into t, commits, and gives the
// entries their sequence numbers.
func (s *Store) commitWithAudit(ctx context.Context, what string, t *txn, audit []store.AuditEntry) error {
	var entries []store.AuditEntry
	if len(audit) > 0 {
		var err error
		if entries, err = s.chainAudit(ctx, t, audit); err != nil {
			return err
		}
	}
	if err := s.commit(ctx, what, t); err != nil {
		return err
	}
	copy(audit, entries)
	return nil
}

func (s *Store) getPromotionItem(ctx context.Context, clientID, id string) (map[string]types.AttributeValue, store.Promotion, error) {
	it, err := s.getItem(ctx, promotionKey(id))
	if err != nil {
		return nil, store.Promotion{}, err
	}
	if it == nil || getS(it, "client_id") != clientID {
		return nil, store.Promotion{}, store.ErrNotFound
	}
	p, err := store.DecodePromotion(getS(it, "doc"))
	return it, p, err
}

// UpdatePromotion writes a promotion under its revision, with audit, and
// releases the target's lock when it finishes.
func (s *Store) UpdatePromotion(ctx context.Context, p store.Promotion, audit []store.AuditEntry) (store.Promotion, error) {
	if err := store.CheckPromotion(p); err != nil {
		return store.Promotion{}, fmt.Errorf("update promotion: %w", err)
	}
	next := p.Stored()
	next.Revision = p.Revision + 1
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		err := s.tryUpdatePromotion(ctx, next, audit)
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			return store.Promotion{}, fmt.Errorf("update promotion %s: %w", p.ID, err)
		}
		return next, nil
	}
	return store.Promotion{}, fmt.Errorf("update promotion %s: %w", p.ID, store.ErrConflict)
}

// errRetry: a write lost a race on something other than the caller's
// revision (the audit head, the target's lock); read again and retry.
var errRetry = errors.New("retry")

func (s *Store) tryUpdatePromotion(ctx context.Context, next store.Promotion, audit []store.AuditEntry) error {
	old, cur, err := s.getPromotionItem(ctx, next.ClientID, next.ID)
	if err != nil {
		return err
	}
	if cur.Revision != next.Revision-1 {
		return fmt.Errorf("%w: revision %d, stored %d", store.ErrConflict, next.Revision-1, cur.Revision)
	}
	it, err := promotionItem(next)
	if err != nil {
		return err
	}
	var t txn
	t.put(s.table(tData), it, "revision = :rev", map[string]types.AttributeValue{":rev": old["revision"]})
	was, is := cur.Status.Unfinished(), next.Status.Unfinished()
	switch {
	case was && !is:
		t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table(tData)),
			Key: promotionLockKey(cur), ConditionExpression: aws.String("attribute_not_exists(pk) OR id = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(cur.ID)}}})
	case !was && is:
		lk := promotionLockKey(next)
		lk["id"] = str(next.ID)
		t.put(s.table(tData), lk, "attribute_not_exists(pk) OR id = :id", map[string]types.AttributeValue{":id": str(next.ID)})
	}
	err = s.commitWithAudit(ctx, "update promotion "+next.ID, &t, audit)
	if errors.Is(err, store.ErrConflict) {
		return errRetry // read again: a stale revision is then the caller's conflict
	}
	return err
}

// GetPromotion returns one promotion of the client.
func (s *Store) GetPromotion(ctx context.Context, clientID, id string) (store.Promotion, error) {
	_, p, err := s.getPromotionItem(ctx, clientID, id)
	if err != nil {
		return store.Promotion{}, fmt.Errorf("get promotion %s: %w", id, err)
	}
	return p, nil
}

// ListPromotions lists promotions newest first by (CreatedAt, ID).
func (s *Store) ListPromotions(ctx context.Context, q store.PromotionQuery) ([]store.Promotion, store.Page, error) {
	if q.ClientID == "" && !q.Unfinished {
		return nil, "", fmt.Errorf("list promotions: %w: a client is required", store.ErrInvalid)
	}
	var cc int64
	var cid string
	if q.Cursor != "" {
		if err := store.DecodeCursor(q.Cursor, &cc, &cid); err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
	}
	var f filterExpr
	f.eq("client_id", q.ClientID)
	f.eq("app", q.App)
	if q.Unfinished {
		f.cond("unfinished = :unf", ":unf", &types.AttributeValueMemberBOOL{Value: true})
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("PROMOTION")}}
	f.apply(in)
	items, err := s.queryAll(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list promotions: %w", err)
	}
	var out []store.Promotion
	for _, it := range items {
		p, err := store.DecodePromotion(getS(it, "doc"))
		if err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
		c := microsOf(p.CreatedAt)
		if q.Cursor != "" && (c > cc || c == cc && p.ID >= cid) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b store.Promotion) int {
		if d := b.CreatedAt.Compare(a.CreatedAt); d != 0 {
			return d
		}
		return strings.Compare(b.ID, a.ID)
	})
	limit := store.PageLimit(q.Limit)
	out = out[:min(len(out), limit+1)]
	out, next := store.NextPage(out, limit, store.PromotionKey)
	return out, next, nil
}
