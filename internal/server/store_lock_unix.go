//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// storeLock is serve's claim on a SQLite store: an exclusive flock on a
// sibling file (PATH.lock), held while the server runs. A second serve on
// the same file would otherwise become a second replica without a word,
// which on SQLite is almost always a mistake (two terminals, a unit and a
// manual run); it is refused unless started with --replica. The kernel
// drops the lock when the process dies, so a crash leaves nothing stale.
type storeLock struct{ f *os.File }

// lockSQLiteStore takes the lock of the SQLite store at storeURL; for
// another scheme it returns nil (replicas on PostgreSQL are the design).
func lockSQLiteStore(storeURL string) (*storeLock, error) {
	path, ok := sqliteFile(storeURL)
	if !ok || path == "" || path == ":memory:" {
		return nil, nil
	}
	lockPath := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o700); err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another blackwell serve is using the SQLite store %s (it holds %s): stop it, "+
				"or start this one with --replica to run both as replicas of one store (on one machine only; "+
				"several machines need PostgreSQL)", path, lockPath)
		}
		return nil, fmt.Errorf("lock store %s: %w", lockPath, err)
	}
	return &storeLock{f: f}, nil
}

// release gives the lock up (nil-safe).
func (l *storeLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}
