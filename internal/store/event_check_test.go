package store

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e       Event
		wantErr string
	}{
		{Event{EventID: "e1", ClientID: "c"}, ""},
		{Event{EventID: "e1", ClientID: "c", Payload: json.RawMessage(`{"a":[1]}`)}, ""},
		{Event{ClientID: "c"}, `event and client ids are required (got "", "c")`},
		{Event{EventID: "e1"}, `event and client ids are required (got "e1", "")`},
		{Event{EventID: "e1", ClientID: "c", Payload: json.RawMessage(`{`)}, "event e1: payload is not valid JSON"},
	} {
		err := CheckEvent(tc.e)
		if tc.wantErr == "" {
			require.NoError(t, err, "%+v", tc.e)
			continue
		}
		require.EqualError(t, err, tc.wantErr)
	}
}

func TestCheckIngest(t *testing.T) {
	t.Parallel()
	ev := Event{EventID: "e1", ClientID: "c"}
	require.NoError(t, CheckIngest(nil))
	require.NoError(t, CheckIngest([]IngestEvent{
		{Event: ev},
		{Event: ev, Content: &ContentItem{ProviderName: "sanity", ContentID: "doc-1"}},
	}))
	for _, tc := range []struct {
		in      IngestEvent
		wantErr string
	}{
		{IngestEvent{Event: Event{EventID: "e2"}}, `event and client ids are required (got "e2", "")`},
		{IngestEvent{Event: ev, Content: &ContentItem{ContentID: "doc-1"}}, "event e1: content item needs a provider and a content id"},
		{IngestEvent{Event: ev, Content: &ContentItem{ProviderName: "sanity"}}, "event e1: content item needs a provider and a content id"},
	} {
		require.EqualError(t, CheckIngest([]IngestEvent{{Event: ev}, tc.in}), tc.wantErr)
	}
}
