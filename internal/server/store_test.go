package server

import "testing"

func TestWorkersDefaultByStore(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want int
	}{
		{Options{StoreURL: "sqlite:///tmp/b.db"}, 64},
		{Options{StoreURL: "postgres://h/db"}, 128},
		{Options{StoreURL: "postgresql://h/db"}, 128},
		{Options{StoreURL: "dynamodb://bw?region=eu-west-1"}, 8},
		{Options{StoreURL: "dynamodb://bw?region=eu-west-1", Workers: 32}, 32},
		{Options{StoreURL: "postgres://h/db", Workers: 3}, 3},
	} {
		if got := workers(tc.o); got != tc.want {
			t.Errorf("workers(%q, %d) = %d, want %d", tc.o.StoreURL, tc.o.Workers, got, tc.want)
		}
	}
}
