package dynamodb_test

import (
	"testing"

	"github.com/blackwellio/blackwell/internal/store/storetest"
)

// The store's side of a pass at the reconciler's scale (10,000 stacks),
// on dynalite: it says what the driver costs in calls, not what DynamoDB
// costs in time.
//
//	go test -run '^$' -bench 'Pass/stacks=10k/workers=16' -benchtime 10000x ./internal/store/dynamodb

func BenchmarkPass(b *testing.B) {
	storetest.BenchPass(b.Context(), b, newTestStore(b))
}

func BenchmarkIngestEvents(b *testing.B) {
	storetest.BenchIngestEvents(b.Context(), b, newTestStore(b))
}
