package store

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestReadMigrations(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name    string
		files   fstest.MapFS
		want    []MigrationFile
		wantErr string
	}{
		{
			name: "in number order",
			files: fstest.MapFS{
				"m/0002_b.sql": file("B"), "m/0010_j.sql": file("J"), "m/0001_a.sql": file("A"),
				"m/0003_c.sql": file("C"), "m/0004_d.sql": file("D"), "m/0005_e.sql": file("E"),
				"m/0006_f.sql": file("F"), "m/0007_g.sql": file("G"), "m/0008_h.sql": file("H"),
				"m/0009_i.sql": file("I"), "m/README.md": file("not a migration"), "other/0011_x.sql": file("X"),
			},
			want: []MigrationFile{
				{1, "0001_a.sql", "A"}, {2, "0002_b.sql", "B"}, {3, "0003_c.sql", "C"}, {4, "0004_d.sql", "D"},
				{5, "0005_e.sql", "E"}, {6, "0006_f.sql", "F"}, {7, "0007_g.sql", "G"}, {8, "0008_h.sql", "H"},
				{9, "0009_i.sql", "I"}, {10, "0010_j.sql", "J"},
			},
		},
		{name: "none", files: fstest.MapFS{}, want: nil},
		{name: "gap", files: fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")},
			wantErr: "migration 0003_c.sql: want number 2"},
		{name: "not from 1", files: fstest.MapFS{"m/0002_b.sql": file("B")}, wantErr: "migration 0002_b.sql: want number 1"},
		{name: "twice", files: fstest.MapFS{"m/0001_a.sql": file("A"), "m/01_again.sql": file("A")},
			wantErr: "want number 2"},
		{name: "no number", files: fstest.MapFS{"m/init.sql": file("A")}, wantErr: "migration init.sql: name is not NNNN_name.sql"},
		{name: "no name", files: fstest.MapFS{"m/0001.sql": file("A")}, wantErr: "migration 0001.sql: name is not NNNN_name.sql"},
	} {
		got, err := ReadMigrations(tc.files, "m")
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}

func TestCheckSchemaVersion(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckSchemaVersion(0, 7))
	require.NoError(t, CheckSchemaVersion(7, 7))
	err := CheckSchemaVersion(8, 7)
	require.ErrorIs(t, err, ErrSchemaTooNew)
	require.EqualError(t, err, ErrSchemaTooNew.Error()+": version 8, this program knows 7 (upgrade blackwell)")
}
