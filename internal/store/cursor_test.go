package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLimits: one meaning of a limit. A method that pages lowers a limit
// above MaxLimit (its cursor leads on); one that does not refuses it.
func TestLimits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n, page, batch int
		refused        bool
	}{
		{n: -1, page: DefaultLimit, batch: DefaultLimit},
		{n: 0, page: DefaultLimit, batch: DefaultLimit},
		{n: 1, page: 1, batch: 1},
		{n: MaxLimit, page: MaxLimit, batch: MaxLimit},
		{n: MaxLimit + 1, page: MaxLimit, refused: true},
	} {
		require.Equal(t, c.page, PageLimit(c.n), "PageLimit(%d)", c.n)
		got, err := BatchLimit(c.n)
		if c.refused {
			require.ErrorIs(t, err, ErrInvalid, "BatchLimit(%d)", c.n)
			require.EqualError(t, err, "invalid query: limit 1001 is above the store's cap of 1000")
			continue
		}
		require.NoError(t, err, "BatchLimit(%d)", c.n)
		require.Equal(t, c.batch, got, "BatchLimit(%d)", c.n)
	}
}
