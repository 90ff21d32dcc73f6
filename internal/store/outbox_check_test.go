package store

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckSubscriberCommit(t *testing.T) {
	t.Parallel()
	ok := SubscriberCommit{Name: "notify", States: map[string]json.RawMessage{"d1": json.RawMessage(`{}`)},
		Deliveries: []OutboxItem{{ID: "o1", Payload: json.RawMessage(`{"a":1}`)}}}
	require.NoError(t, CheckSubscriberCommit(ok))
	require.NoError(t, CheckSubscriberCommit(SubscriberCommit{Name: "notify"}))

	bad := ok
	bad.States = map[string]json.RawMessage{"d2": json.RawMessage(`{`)}
	require.EqualError(t, CheckSubscriberCommit(bad), `commit subscriber notify: state "d2" is not valid JSON`)
	bad = ok
	bad.Deliveries = []OutboxItem{{ID: "o1", Payload: json.RawMessage(`{}`)}, {ID: "o2"}}
	require.EqualError(t, CheckSubscriberCommit(bad), `commit subscriber notify: delivery "o2" payload is not valid JSON`)
}
