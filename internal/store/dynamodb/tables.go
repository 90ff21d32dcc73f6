package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Table names, after the prefix.
const (
	tState  = "state"
	tEvents = "event-mirror"
	tData   = "data"
)

// Index names.
const (
	idxShard    = "by_shard"
	idxClient   = "by_client"
	idxProvider = "by_provider"
)

// migrations are the driver's schema steps, numbered from 1; each is
// recorded as an item of the data table once applied.
var migrations = []string{"tables"}

func attr(name string, t types.ScalarAttributeType) types.AttributeDefinition {
	return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: t}
}

func keys(hash, rng string) []types.KeySchemaElement {
	k := []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}}
	if rng != "" {
		k = append(k, types.KeySchemaElement{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange})
	}
	return k
}

func gsi(name, hash, rng string) types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: keys(hash, rng),
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}
}

// tableDefs are the tables the store needs, on-demand billing.
func (s *Store) tableDefs() []*dynamodb.CreateTableInput {
	pay := types.BillingModePayPerRequest
	return []*dynamodb.CreateTableInput{{
		TableName:   aws.String(s.table(tState)),
		BillingMode: pay,
		KeySchema:   keys("client_id", "stack_id"),
		AttributeDefinitions: []types.AttributeDefinition{attr("client_id", types.ScalarAttributeTypeS),
			attr("stack_id", types.ScalarAttributeTypeS), attr("shard", types.ScalarAttributeTypeN), attr("stack_key", types.ScalarAttributeTypeS)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(idxShard, "shard", "stack_key")},
	}, {
		TableName:   aws.String(s.table(tEvents)),
		BillingMode: pay,
		KeySchema:   keys("event_id", ""),
		AttributeDefinitions: []types.AttributeDefinition{attr("event_id", types.ScalarAttributeTypeS),
			attr("client_id", types.ScalarAttributeTypeS), attr("provider_name", types.ScalarAttributeTypeS), attr("timestamp", types.ScalarAttributeTypeS)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(idxClient, "client_id", "timestamp"), gsi(idxProvider, "provider_name", "timestamp")},
	}, {
		TableName:            aws.String(s.table(tData)),
		BillingMode:          pay,
		KeySchema:            keys("pk", "sk"),
		AttributeDefinitions: []types.AttributeDefinition{attr("pk", types.ScalarAttributeTypeS), attr("sk", types.ScalarAttributeTypeS)},
	}}
}

// migrate creates the tables that are missing, waits until they are
// active, and records the migrations. TTL on the event mirror's
// ttl_timestamp is part of the deployment template (UpdateTimeToLive);
// DeleteExpiredEvents deletes expired events itself either way.
func (s *Store) migrate(ctx context.Context) error {
	for _, def := range s.tableDefs() {
		_, err := s.api.CreateTable(ctx, def)
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", aws.ToString(def.TableName), err)
		}
		if err := s.waitActive(ctx, aws.ToString(def.TableName)); err != nil {
			return err
		}
	}
	for i, name := range migrations {
		item := map[string]types.AttributeValue{
			"pk": str("MIGRATION"), "sk": str(fmt.Sprintf("%06d", i+1)),
			"name": str(name), "applied_at": num(store.Truncate(s.now()).UnixMicro()),
		}
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table(tData)), Item: item,
			ConditionExpression: aws.String("attribute_not_exists(pk)")})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("record migration %d: %w", i+1, err)
		}
	}
	return nil
}

func (s *Store) waitActive(ctx context.Context, name string) error {
	for {
		out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", name, err)
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("table %s is not active: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LatestSchemaVersion is the number of this program's last migration of
// the DynamoDB store.
func LatestSchemaVersion() int { return len(migrations) }

// SchemaVersion is the number of the last applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	ms, err := s.Migrations(ctx)
	if err != nil {
		return 0, err
	}
	return len(ms), nil
}

// Migrations returns the applied migrations, oldest first.
func (s *Store) Migrations(ctx context.Context) ([]store.Migration, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)),
		KeyConditionExpression: aws.String("pk = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("MIGRATION")}})
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	out := make([]store.Migration, 0, len(items))
	for i, it := range items {
		out = append(out, store.Migration{Version: i + 1, Name: getS(it, "name"), AppliedAt: micros(getN(it, "applied_at"))})
	}
	if len(out) > len(migrations) {
		return nil, fmt.Errorf("%w: schema version %d, this program knows %d", store.ErrSchemaTooNew, len(out), len(migrations))
	}
	return out, nil
}
