package postgres_test

import (
	"testing"

	"github.com/blackwellio/blackwell/internal/store/storetest"
)

// The store's throughput at the reconciler's scale (10,000 stacks), on the
// PostgreSQL of BLACKWELL_TEST_POSTGRES, each benchmark in a fresh schema:
//
//	go test -run '^$' -bench . -benchtime 20000x ./internal/store/postgres

func BenchmarkCommitPass(b *testing.B) {
	storetest.BenchCommitPass(b.Context(), b, open(b, newSchema(b, serverURL(b))))
}

func BenchmarkEventActivity(b *testing.B) {
	storetest.BenchEventActivity(b.Context(), b, open(b, newSchema(b, serverURL(b))))
}

func BenchmarkPass(b *testing.B) {
	storetest.BenchPass(b.Context(), b, open(b, newSchema(b, serverURL(b))))
}

func BenchmarkInsertEvents(b *testing.B) {
	storetest.BenchInsertEvents(b.Context(), b, open(b, newSchema(b, serverURL(b))))
}
