package store

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// MigrationFile is one numbered schema migration of a driver, a file
// NNNN_name.sql. Number n means the same change in both drivers.
type MigrationFile struct {
	Version int
	// Name is the file's name, recorded with the version when applied.
	Name string
	SQL  string
}

// ReadMigrations reads a driver's migrations, the files dir/*.sql of fsys
// (its embedded migrations), in order of their numbers, which must run 1,
// 2, 3... without gaps.
func ReadMigrations(fsys fs.FS, dir string) ([]MigrationFile, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []MigrationFile
	for _, f := range files {
		base := strings.TrimPrefix(f, dir+"/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", base)
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, MigrationFile{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want number %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// CheckSchemaVersion checks that a database at schema version current
// (the last applied migration) may be migrated by a program whose last
// migration is latest: it fails with ErrSchemaTooNew when current is
// newer.
func CheckSchemaVersion(current, latest int) error {
	if current > latest {
		return fmt.Errorf("%w: version %d, this program knows %d (upgrade blackwell)", ErrSchemaTooNew, current, latest)
	}
	return nil
}
