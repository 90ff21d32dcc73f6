package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/blackwellio/blackwell/internal/store/storetest"
)

// The store's throughput at the reconciler's scale (10,000 stacks):
//
//	go test -run '^$' -bench . -benchtime 20000x ./internal/store/sqlite

func BenchmarkCommitPass(b *testing.B) {
	storetest.BenchCommitPass(b.Context(), b, open(b, filepath.Join(b.TempDir(), "bench.db")))
}

func BenchmarkEventActivity(b *testing.B) {
	storetest.BenchEventActivity(b.Context(), b, open(b, filepath.Join(b.TempDir(), "bench.db")))
}

func BenchmarkPass(b *testing.B) {
	storetest.BenchPass(b.Context(), b, open(b, filepath.Join(b.TempDir(), "bench.db")))
}

func BenchmarkInsertEvents(b *testing.B) {
	storetest.BenchInsertEvents(b.Context(), b, open(b, filepath.Join(b.TempDir(), "bench.db")))
}

func BenchmarkIngestEvents(b *testing.B) {
	storetest.BenchIngestEvents(b.Context(), b, open(b, filepath.Join(b.TempDir(), "bench.db")))
}
