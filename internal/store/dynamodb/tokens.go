package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// API tokens: one partition ("TOKEN", by id), and an item per secret hash
// ("TOKENHASH/hash") naming its token, written only if absent, so two
// tokens never share a secret.

func tokenKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("TOKEN"), "sk": str(id)}
}

func tokenHashKey(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("TOKENHASH/" + hash), "sk": str("-")}
}

func tokenItem(t store.Token) (map[string]types.AttributeValue, error) {
	doc, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	it := tokenKey(t.ID)
	it["doc"], it["secret_hash"] = str(string(doc)), str(t.SecretHash)
	if t.LastUsedAt != nil {
		it["last_used"] = num(microsOf(*t.LastUsedAt))
	}
	return it, nil
}

func decodeToken(it map[string]types.AttributeValue) (store.Token, error) {
	var t store.Token
	if err := json.Unmarshal([]byte(getS(it, "doc")), &t); err != nil {
		return t, fmt.Errorf("decode token %s: %w", getS(it, "sk"), err)
	}
	t.SecretHash = getS(it, "secret_hash")
	if _, ok := it["last_used"]; ok {
		u := micros(getN(it, "last_used"))
		t.LastUsedAt = &u
	}
	return t, nil
}

func storedToken(t store.Token) store.Token {
	t.CreatedAt = store.Truncate(t.CreatedAt)
	for _, p := range []**time.Time{&t.LastUsedAt, &t.RevokedAt} {
		if *p != nil {
			v := store.Truncate(**p)
			*p = &v
		}
	}
	return t
}

// CreateToken stores a new token and appends audit in one transaction.
func (s *Store) CreateToken(ctx context.Context, tok store.Token, audit []store.AuditEntry) error {
	if err := store.CheckToken(tok); err != nil {
		return err
	}
	if err := store.CheckAudit(audit); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	it, err := tokenItem(storedToken(tok))
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	hash := tokenHashKey(tok.SecretHash)
	hash["id"] = str(tok.ID)
	return s.withAudit(ctx, "create token "+tok.ID, audit, func(t *txn) error {
		t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
		t.put(s.table(tData), hash, "attribute_not_exists(pk)", nil)
		return nil
	}, 2)
}

// withAudit commits the writes build adds (the first fixed of them
// conditions of the caller: a failure there is the caller's conflict)
// with audit chained after the head, reading the head again when it
// moved.
func (s *Store) withAudit(ctx context.Context, what string, audit []store.AuditEntry, build func(*txn) error, fixed int) error {
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		var t txn
		if err := build(&t); err != nil {
			return err
		}
		var entries []store.AuditEntry
		if len(audit) > 0 {
			var err error
			if entries, err = s.chainAudit(ctx, &t, audit); err != nil {
				return err
			}
		}
		err := s.commit(ctx, what, &t)
		if at := conflictAt(err); at >= fixed {
			continue
		}
		if err != nil {
			return err
		}
		copy(audit, entries)
		return nil
	}
	return fmt.Errorf("%s: %w: the audit head moved %d times", what, store.ErrConflict, auditRetries)
}

// GetToken returns a token by id.
func (s *Store) GetToken(ctx context.Context, id string) (store.Token, error) {
	it, err := s.getItem(ctx, tokenKey(id))
	if err != nil {
		return store.Token{}, fmt.Errorf("get token %s: %w", id, err)
	}
	if it == nil {
		return store.Token{}, fmt.Errorf("get token %s: %w", id, store.ErrNotFound)
	}
	return decodeToken(it)
}

// TokenBySecretHash returns the token whose secret hash is hash.
func (s *Store) TokenBySecretHash(ctx context.Context, hash string) (store.Token, error) {
	it, err := s.getItem(ctx, tokenHashKey(hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("token by secret: %w", err)
	}
	if it == nil {
		return store.Token{}, fmt.Errorf("token by secret: %w", store.ErrNotFound)
	}
	return s.GetToken(ctx, getS(it, "id"))
}

// ListTokens returns every token by CreatedAt then ID.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("TOKEN")}})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := []store.Token{}
	for _, it := range items {
		t, err := decodeToken(it)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b store.Token) int {
		if d := a.CreatedAt.Compare(b.CreatedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeToken sets RevokedAt unless the token is revoked already, and
// appends audit.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, audit []store.AuditEntry) (store.Token, error) {
	if err := store.CheckAudit(audit); err != nil {
		return store.Token{}, fmt.Errorf("revoke token: %w", err)
	}
	var out store.Token
	err := s.withAudit(ctx, "revoke token "+id, audit, func(t *txn) error {
		it, err := s.getItem(ctx, tokenKey(id))
		if err != nil {
			return err
		}
		if it == nil {
			return fmt.Errorf("revoke token %s: %w", id, store.ErrNotFound)
		}
		if out, err = decodeToken(it); err != nil {
			return err
		}
		if out.RevokedAt == nil {
			r := store.Truncate(at)
			out.RevokedAt = &r
		}
		next, err := tokenItem(out)
		if err != nil {
			return err
		}
		t.put(s.table(tData), next, "doc = :doc", map[string]types.AttributeValue{":doc": it["doc"]})
		return nil
	}, 0)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return s.RevokeToken(ctx, id, at, audit) // touched in between
		}
		return store.Token{}, err
	}
	return out, nil
}

// TouchToken moves LastUsedAt to at when that is later.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table(tData)), Key: tokenKey(id),
		UpdateExpression:          aws.String("SET last_used = :at"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(last_used) OR last_used < :at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(microsOf(at))}})
	if isConditionFailed(err) {
		if _, gerr := s.GetToken(ctx, id); gerr != nil {
			return fmt.Errorf("touch token: %w", gerr)
		}
		return nil // a later use is recorded
	}
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}

// HasTokens reports whether any token was ever created.
func (s *Store) HasTokens(ctx context.Context) (bool, error) {
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), Limit: aws.Int32(1),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("TOKEN")}})
	if err != nil {
		return false, fmt.Errorf("has tokens: %w", err)
	}
	return len(out.Items) > 0, nil
}
