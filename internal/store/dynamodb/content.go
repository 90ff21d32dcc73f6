package dynamodb

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// The content cache is one partition per client ("CONTENT/client"),
// sorted by provider, source and content id.

func contentKey(c store.ContentItem) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("CONTENT/" + c.ClientID), "sk": str(contentSK(c.ProviderName, c.Source, c.ContentID))}
}

func contentSK(provider, source, id string) string { return provider + " " + source + " " + id }

func contentItem(c store.ContentItem) (map[string]types.AttributeValue, error) {
	it := contentKey(c)
	for k, v := range map[string]string{"client_id": c.ClientID, "provider_name": c.ProviderName, "source": c.Source,
		"content_id": c.ContentID, "content_type": c.ContentType, "event_id": c.EventID} {
		it[k] = str(v)
	}
	it["updated_at"], it["version"] = num(microsOf(c.UpdatedAt)), num(c.Version)
	it["received_at"] = num(microsOf(c.ReceivedAt))
	it["deleted"] = &types.AttributeValueMemberBOOL{Value: c.Deleted}
	return it, checkItem("content item "+c.ContentID, it)
}

func decodeContent(it map[string]types.AttributeValue) store.ContentItem {
	return store.ContentItem{ClientID: getS(it, "client_id"), ProviderName: getS(it, "provider_name"), Source: getS(it, "source"),
		ContentID: getS(it, "content_id"), ContentType: getS(it, "content_type"), UpdatedAt: micros(getN(it, "updated_at")),
		Version: getN(it, "version"), Deleted: getBool(it, "deleted"), EventID: getS(it, "event_id"),
		ReceivedAt: micros(getN(it, "received_at"))}
}

// addContent writes each new event's content item where it is newer than
// the stored state (and than the batch's other states of the item), on
// condition that the stored state is the one read.
func (s *Store) addContent(ctx context.Context, t *txn, in []store.IngestEvent) error {
	newest := map[string]store.ContentItem{}
	var order []string
	for _, e := range in {
		if e.Content == nil {
			continue
		}
		c := *e.Content
		c.ClientID, c.EventID, c.ReceivedAt = e.Event.ClientID, e.Event.EventID, e.Event.ReceivedAt
		ck := contentKey(c)
		k := getS(ck, "pk") + "\x00" + getS(ck, "sk")
		old, ok := newest[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || c.Newer(old) {
			if ok && c.ContentType == "" {
				c.ContentType = old.ContentType // a tombstone without a type keeps it
			}
			newest[k] = c
		}
	}
	for _, k := range order {
		c := newest[k]
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), Key: contentKey(c), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("read content item %s: %w", c.ContentID, err)
		}
		if out.Item != nil {
			old := decodeContent(out.Item)
			if !c.Newer(old) {
				continue
			}
			if c.ContentType == "" {
				c.ContentType = old.ContentType
			}
		}
		it, err := contentItem(c)
		if err != nil {
			return err
		}
		if out.Item == nil {
			t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
		} else {
			t.put(s.table(tData), it, "event_id = :e", map[string]types.AttributeValue{":e": str(getS(out.Item, "event_id"))})
		}
	}
	return nil
}

// ListContent lists content items by client, provider, source and id:
// with a client, a query of its partition; without, a scan, sorted.
func (s *Store) ListContent(ctx context.Context, q store.ContentQuery) ([]store.ContentItem, store.Page, error) {
	var after []string
	if q.Cursor != "" {
		var c, p, src, id string
		if err := store.DecodeCursor(q.Cursor, &c, &p, &src, &id); err != nil {
			return nil, "", fmt.Errorf("list content: %w", err)
		}
		after = []string{c, p, src, id}
	}
	limit := store.PageLimit(q.Limit)
	var f filterExpr
	f.eq("provider_name", q.ProviderName)
	f.eq("content_type", q.ContentType)
	f.eq("content_id", q.ContentID)
	if !q.IncludeDeleted {
		f.cond("deleted = :false", ":false", &types.AttributeValueMemberBOOL{Value: false})
	}
	var items []map[string]types.AttributeValue
	var err error
	if q.ClientID != "" {
		in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("CONTENT/" + q.ClientID)}}
		if after != nil && after[0] == q.ClientID {
			in.KeyConditionExpression = aws.String("pk = :pk AND sk > :after")
			in.ExpressionAttributeValues[":after"] = str(contentSK(after[1], after[2], after[3]))
		}
		f.apply(in)
		items, err = s.queryPage(ctx, in, limit+1)
	} else {
		items, err = s.scanContent(ctx, f)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list content: %w", err)
	}
	out := make([]store.ContentItem, 0, len(items))
	for _, it := range items {
		c := decodeContent(it)
		if after != nil && compareContent(c, after) <= 0 {
			continue
		}
		out = append(out, c)
	}
	if len(out) > limit+1 {
		out = out[:limit+1]
	}
	page, next := store.NextPage(out, limit, store.ContentKey)
	return page, next, nil
}

func compareContent(c store.ContentItem, key []string) int {
	for i, v := range []string{c.ClientID, c.ProviderName, c.Source, c.ContentID} {
		if d := strings.Compare(v, key[i]); d != 0 {
			return d
		}
	}
	return 0
}

// scanContent scans every client's content items, sorted.
func (s *Store) scanContent(ctx context.Context, f filterExpr) ([]map[string]types.AttributeValue, error) {
	f.cond("begins_with(pk, :cpk)", ":cpk", str("CONTENT/"))
	qin := &dynamodb.QueryInput{}
	f.apply(qin)
	items, err := s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		FilterExpression: qin.FilterExpression, ExpressionAttributeNames: qin.ExpressionAttributeNames,
		ExpressionAttributeValues: qin.ExpressionAttributeValues})
	if err != nil {
		return nil, err
	}
	sortItems(items, func(a, b map[string]types.AttributeValue) int {
		if d := strings.Compare(getS(a, "client_id"), getS(b, "client_id")); d != 0 {
			return d
		}
		return strings.Compare(getS(a, "sk"), getS(b, "sk"))
	})
	return items, nil
}
