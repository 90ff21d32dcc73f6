package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store/postgres"
)

// TestPoolSettings: pool size and statement_timeout come from the URL, and
// the options override it.
func TestPoolSettings(t *testing.T) {
	t.Parallel()
	u := newSchema(t, serverURL(t))

	fromURL, err := postgres.Open(t.Context(), withParam(t, withParam(t, u, "statement_timeout", "1500ms"), "pool_max_conns", "3"))
	require.NoError(t, err)
	t.Cleanup(func() { fromURL.Close() })
	require.EqualValues(t, 3, fromURL.Pool().Config().MaxConns)
	require.Equal(t, 10*time.Second, fromURL.Pool().Config().ConnConfig.ConnectTimeout, "the default connect timeout")
	var timeout string
	require.NoError(t, fromURL.Pool().QueryRow(t.Context(), `SHOW statement_timeout`).Scan(&timeout))
	require.Equal(t, "1500ms", timeout)

	// open's WithMaxConns(4) comes first; the later option wins.
	fromOpts := open(t, withParam(t, withParam(t, u, "statement_timeout", "1500ms"), "connect_timeout", "3"),
		postgres.WithMaxConns(7), postgres.WithStatementTimeout(200*time.Millisecond))
	require.EqualValues(t, 7, fromOpts.Pool().Config().MaxConns)
	require.Equal(t, 3*time.Second, fromOpts.Pool().Config().ConnConfig.ConnectTimeout)
	require.NoError(t, fromOpts.Pool().QueryRow(t.Context(), `SHOW statement_timeout`).Scan(&timeout))
	require.Equal(t, "200ms", timeout)

	_, err = fromOpts.Pool().Exec(t.Context(), `SELECT pg_sleep(2)`)
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "57014", pe.Code, "query_canceled by statement_timeout")
	require.NoError(t, fromOpts.Ping(t.Context()))

	// JIT is off on both pools unless the connection string says
	// otherwise.
	var jit string
	for _, pool := range []*pgxpool.Pool{fromOpts.Pool(), fromOpts.StreamPool()} {
		require.NoError(t, pool.QueryRow(t.Context(), `SHOW jit`).Scan(&jit))
		require.Equal(t, "off", jit)
	}
	withJIT := open(t, withParam(t, u, "jit", "on"))
	require.NoError(t, withJIT.StreamPool().QueryRow(t.Context(), `SHOW jit`).Scan(&jit))
	require.Equal(t, "on", jit)
}
