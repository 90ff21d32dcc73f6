package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/notify"
)

func TestCompareChannels(t *testing.T) {
	t.Parallel()
	recorded := notify.ChannelSetOf("notify", []string{"slack", "pd", "hook"}, "replica-1", time.Unix(0, 0))
	for _, tc := range []struct {
		name           string
		mine           []string
		missing, extra []string
	}{
		{name: "same", mine: []string{"hook", "pd", "slack"}},
		{name: "same with a repeat", mine: []string{"hook", "pd", "slack", "pd"}},
		{name: "one missing", mine: []string{"hook", "slack"}, missing: []string{"pd"}},
		{name: "one extra", mine: []string{"hook", "pd", "slack", "email"}, extra: []string{"email"}},
		{name: "both", mine: []string{"email", "slack"}, missing: []string{"hook", "pd"}, extra: []string{"email"}},
		{name: "none", mine: nil, missing: []string{"hook", "pd", "slack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mm := notify.CompareChannels(recorded, tc.mine)
			if tc.missing == nil && tc.extra == nil {
				require.Nil(t, mm)
				return
			}
			require.NotNil(t, mm)
			require.Equal(t, tc.missing, mm.Missing)
			require.Equal(t, tc.extra, mm.Extra)
			require.Contains(t, mm.Error(), "replica-1")
			for _, n := range append(tc.missing, tc.extra...) {
				require.Contains(t, mm.Error(), n)
			}
		})
	}
	empty := notify.ChannelSetOf("notify", nil, "r", time.Time{})
	require.Equal(t, []string{}, empty.Names)
	require.Nil(t, notify.CompareChannels(empty, nil), "no channel anywhere agrees")
	require.Equal(t, recorded.Hash, notify.ChannelSetOf("notify", []string{"pd", "hook", "slack"}, "other", time.Now()).Hash,
		"the hash is of the names alone")
}

// TestFeedWithOtherChannelsNeitherLeadsNorSends: a replica whose channels
// differ from those recorded, though it holds shard 0 and every channel,
// commits no delivery (it would plan them for the wrong channels), sends
// nothing and gives nothing up; given the recorded channels, it leads
// again from where the store's cursor is.
func TestFeedWithOtherChannelsNeitherLeadsNorSends(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := context.Background()
	f := notify.NewFeed(notify.FeedOptions{Store: st, Leader: func() bool { return true }, Sends: func(string) bool { return true }})
	require.NoError(t, f.Load(ctx))
	_, err := f.RecordChannels(ctx, []string{"alpha", "beta"}, "replica-a")
	require.NoError(t, err)
	cursor := f.Cursor()

	alpha := newRecorder("alpha")
	setDispatcher(t, f, notify.DispatcherOptions{}, alpha)
	t.Cleanup(func() { _ = f.Stop(ctx) })
	mm := f.ChannelMismatch()
	require.NotNil(t, mm)
	require.Equal(t, []string{"beta"}, mm.Missing)
	require.Error(t, f.CheckChannels(ctx, []string{"alpha"}))
	require.NoError(t, f.CheckChannels(ctx, []string{"beta", "alpha"}))

	detected(t, st, "d1")
	poll(t, f)
	require.Empty(t, pending(t, st), "nothing planned")
	sub, err := st.GetSubscriber(ctx, notify.DefaultSubscriber)
	require.NoError(t, err)
	require.Equal(t, cursor, sub.Cursor, "nothing committed")
	require.NoError(t, f.Requeue(ctx))
	require.Empty(t, alpha.messages())

	alpha2, beta := newRecorder("alpha"), newRecorder("beta")
	setDispatcher(t, f, notify.DispatcherOptions{}, alpha2, beta)
	require.Nil(t, f.ChannelMismatch())
	require.Equal(t, 1, poll(t, f), "the entry is planned now, from the store's cursor")
	require.Equal(t, []string{"d1:detected"}, driftKinds(alpha2.wait(t, 1)))
	require.Equal(t, []string{"d1:detected"}, driftKinds(beta.wait(t, 1)))
	require.Empty(t, alpha.messages())
}
