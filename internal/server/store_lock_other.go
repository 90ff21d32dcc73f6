//go:build !unix

package server

// storeLock is serve's claim on a SQLite store; where flock is not
// available, a second serve on one file is not detected.
type storeLock struct{}

func lockSQLiteStore(string) (*storeLock, error) { return nil, nil }

func (l *storeLock) release() {}
