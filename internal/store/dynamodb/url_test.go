package dynamodb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	dyn "github.com/blackwellio/blackwell/internal/store/dynamodb"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		url     string
		want    dyn.Config
		wantErr string
	}{
		{url: "dynamodb://blackwell-?region=eu-west-1", want: dyn.Config{Prefix: "blackwell-", Region: "eu-west-1"}},
		{url: "dynamodb://bw_?region=us-east-1&endpoint=http://127.0.0.1:4567",
			want: dyn.Config{Prefix: "bw_", Region: "us-east-1", Endpoint: "http://127.0.0.1:4567"}},
		{url: "dynamodb://bw-", wantErr: "region is required"},
		{url: "dynamodb://?region=eu-west-1", wantErr: "table prefix"},
		{url: "dynamodb://bw/x?region=eu-west-1", wantErr: "no user or path"},
		{url: "dynamodb://u:p@bw?region=eu-west-1", wantErr: "no user or path"},
		{url: "dynamodb://bw?region=eu-west-1&table=x", wantErr: `unknown parameter "table"`},
		{url: "dynamodb://bw?region=eu-west-1&endpoint=ftp://x", wantErr: "not an http(s) URL"},
		{url: "postgres://bw?region=eu-west-1", wantErr: "want dynamodb"},
	} {
		t.Run(c.url, func(t *testing.T) {
			got, err := dyn.ParseURL(c.url)
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func FuzzParseURL(f *testing.F) {
	f.Add("dynamodb://blackwell-?region=eu-west-1&endpoint=http://localhost:8000")
	f.Add("dynamodb://%zz?region=")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := dyn.ParseURL(raw)
		if err != nil {
			return
		}
		if c.Prefix == "" || c.Region == "" {
			t.Fatalf("accepted %q without prefix or region: %+v", raw, c)
		}
	})
}

// TestOpenRefusesWithoutOptIn: the experimental driver is not selectable
// without BLACKWELL_DYNAMODB_EXPERIMENTAL=1.
func TestOpenRefusesWithoutOptIn(t *testing.T) {
	t.Setenv(dyn.ExperimentalEnv, "")
	_, err := dyn.Open(context.Background(), "dynamodb://bw-?region=eu-west-1&endpoint=http://127.0.0.1:1")
	require.True(t, errors.Is(err, dyn.ErrIncomplete), "%v", err)
	require.ErrorContains(t, err, "dynamodb store: experimental: ")
	require.ErrorContains(t, err, dyn.ExperimentalEnv+"=1")
}

// TestSchemaVersionIsLatest: a store opened (and so migrated) is at the
// program's latest schema version, which `blackwell migrate` reports.
func TestSchemaVersionIsLatest(t *testing.T) {
	s := newTestStore(t)
	v, err := s.SchemaVersion(context.Background())
	require.NoError(t, err)
	require.Equal(t, dyn.LatestSchemaVersion(), v)
}
