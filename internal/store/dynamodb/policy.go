package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Policies live in one partition per client ("POLICY/client"), sorted by
// "#" + stack id ("#" alone: the client-wide one), so a pass reads all of
// its client's in one query.
func policyKey(clientID, stackID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("POLICY/" + clientID), "sk": str("#" + stackID)}
}

// PutPolicy upserts a policy document for (client, stack).
func (s *Store) PutPolicy(ctx context.Context, p store.PolicyRecord) error {
	if err := store.CheckPolicy(p); err != nil {
		return err
	}
	it := policyKey(p.ClientID, p.StackID)
	it["client_id"], it["document"], it["updated_at"] = str(p.ClientID), str(string(p.Document)), num(microsOf(p.UpdatedAt))
	if p.StackID != "" {
		it["stack_id"] = str(p.StackID)
	}
	if err := checkItem("policy "+p.ClientID+"/"+p.StackID, it); err != nil {
		return fmt.Errorf("put policy: %w", err)
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table(tData)), Item: it}); err != nil {
		return fmt.Errorf("put policy %s/%s: %w", p.ClientID, p.StackID, err)
	}
	return nil
}

func decodePolicy(it map[string]types.AttributeValue) store.PolicyRecord {
	return store.PolicyRecord{ClientID: getS(it, "client_id"), StackID: getS(it, "stack_id"),
		Document: json.RawMessage(getS(it, "document")), UpdatedAt: micros(getN(it, "updated_at"))}
}

// GetPolicy returns the policy for exactly (client, stack).
func (s *Store) GetPolicy(ctx context.Context, clientID, stackID string) (store.PolicyRecord, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)),
		Key: policyKey(clientID, stackID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.PolicyRecord{}, fmt.Errorf("get policy %s/%s: %w", clientID, stackID, err)
	}
	if out.Item == nil {
		return store.PolicyRecord{}, fmt.Errorf("get policy %s/%s: %w", clientID, stackID, store.ErrNotFound)
	}
	return decodePolicy(out.Item), nil
}

// ListPolicies returns every policy of the client, by stack id.
func (s *Store) ListPolicies(ctx context.Context, clientID string) ([]store.PolicyRecord, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("POLICY/" + clientID)}})
	if err != nil {
		return nil, fmt.Errorf("list policies of %s: %w", clientID, err)
	}
	out := make([]store.PolicyRecord, 0, len(items))
	for _, it := range items {
		out = append(out, decodePolicy(it))
	}
	return out, nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
