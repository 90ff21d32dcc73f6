package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDumpURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		dropped  []string
	}{
		{"postgres://blackwell@db.internal/blackwell?sslmode=require&pool_max_conns=20&statement_timeout=5s",
			"postgres://blackwell@db.internal/blackwell?sslmode=require", []string{"pool_max_conns", "statement_timeout"}},
		{"postgresql://u:s3cret@127.0.0.1:5432/test", "postgresql://u:xxxxx@127.0.0.1:5432/test", nil},
		{"postgres://u@h/d?application_name=bw&connect_timeout=5", "postgres://u@h/d?application_name=bw&connect_timeout=5", nil},
		{"sqlite:///x.db", "$BLACKWELL_STORE", nil},
		{"postgres://%zz", "$BLACKWELL_STORE", nil},
	} {
		got, dropped := DumpURL(tc.in)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.dropped, dropped, tc.in)
		require.NotContains(t, got, "s3cret")
	}
}
