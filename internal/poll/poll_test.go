package poll_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
)

func TestWaitReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	err := poll.Wait(10*time.Second, "the third call", func() bool { return calls.Add(1) == 3 })
	require.NoError(t, err)
	require.Equal(t, int32(3), calls.Load(), "no call after the condition held")
}

func TestWaitGivesUpAtTheDeadline(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	start := time.Now()
	err := poll.Wait(30*time.Millisecond, "never", func() bool { calls.Add(1); return false })
	require.EqualError(t, err, "never: not within 30ms")
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "not before the deadline")
	require.GreaterOrEqual(t, calls.Load(), int32(2), "checked more than once")
}

func TestWaitChecksOnceWithNoTimeLeft(t *testing.T) {
	t.Parallel()
	require.NoError(t, poll.Wait(0, "already true", func() bool { return true }))
	require.Error(t, poll.Wait(0, "false", func() bool { return false }))
}

// recorder records a Fatal instead of ending the test.
type recorder struct {
	fatal string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.fatal = args[0].(error).Error()
}

var _ poll.TB = (testing.TB)(nil)

func TestUntilFailsTheTestNamingWhatWasAwaited(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	poll.Until(r, 10*time.Millisecond, "the stack healthy", func() bool { return false })
	require.Equal(t, "the stack healthy: not within 10ms", r.fatal)

	r = &recorder{}
	poll.Until(r, time.Second, "true", func() bool { return true })
	require.Empty(t, r.fatal)
}

func TestWaitEveryKeepsItsPace(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	start := time.Now()
	err := poll.WaitEvery(20*time.Millisecond, 10*time.Second, "the third call", func() bool { return calls.Add(1) == 3 })
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "two intervals between three calls")
	require.EqualError(t, poll.WaitEvery(5*time.Millisecond, 20*time.Millisecond, "never", func() bool { return false }), "never: not within 20ms")
}
