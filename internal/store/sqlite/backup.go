package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// BackupInfo describes a backup file that Backup wrote.
type BackupInfo struct {
	Path          string `json:"path"`
	Bytes         int64  `json:"bytes"`
	SchemaVersion int    `json:"schema_version"`
}

// Backup writes a consistent copy of the database at src to dst, online:
// VACUUM INTO reads one snapshot of the file in a read transaction (in WAL
// mode writers go on meanwhile) and writes a compacted database holding
// every committed row, WAL included. It opens src without migrating it (a
// running server may be an older blackwell), writes to a temporary file
// beside dst, syncs it and links it into place, so dst is either absent or
// whole; an existing dst is refused. The copy is checked with
// integrity_check before Backup returns.
func Backup(ctx context.Context, src, dst string) (BackupInfo, error) {
	if src == "" || dst == "" || strings.HasPrefix(src, "file:") || strings.HasPrefix(dst, "file:") {
		return BackupInfo{}, fmt.Errorf("backup: want file paths, got %q and %q", src, dst)
	}
	if fi, err := os.Stat(src); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	} else if !fi.Mode().IsRegular() {
		return BackupInfo{}, fmt.Errorf("backup: %s is not a file", src)
	}
	if _, err := os.Lstat(dst); err == nil {
		return BackupInfo{}, fmt.Errorf("backup: %s already exists; name a new file", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}

	// Not query_only: that refuses VACUUM INTO. Nothing here writes src.
	db, err := sql.Open("sqlite", "file:"+escapePath(src)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var version int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %s is not a blackwell store: %w", src, err)
	}

	// VACUUM INTO wants a file that does not exist or is empty.
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.partial")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath) // after the link, only the temporary name goes
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmpPath); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: vacuum into %s: %w", tmpPath, err)
	}
	if err := db.Close(); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := checkBackup(ctx, tmpPath); err != nil {
		return BackupInfo{}, err
	}
	if err := syncFile(tmpPath); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: sync: %w", err)
	}
	// Link, not rename: it fails if dst appeared meanwhile.
	if err := os.Link(tmpPath, dst); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: sync directory: %w", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	return BackupInfo{Path: dst, Bytes: fi.Size(), SchemaVersion: version}, nil
}

// checkBackup runs integrity_check on a backup file.
func checkBackup(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("backup: check: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("backup: check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("backup: check: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backup: check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("backup: integrity check of the copy failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
