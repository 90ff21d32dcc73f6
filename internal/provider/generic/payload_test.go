package generic_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider/generic"
)

func TestMinimizePayload(t *testing.T) {
	t.Parallel()
	body := `{"event_type":"content.updated","content_id":"page-1","content_type":"page",` +
		`"timestamp":"2025-01-02T00:00:00Z","metadata":{"editor":"ann@example.com"}}`
	for _, tc := range []struct {
		mode webhook.Payload
		want string
	}{
		{webhook.PayloadDefault, body},
		{webhook.PayloadFull, body},
		{webhook.PayloadMinimal, `{"event_type":"content.updated","content_id":"page-1","content_type":"page",` +
			`"timestamp":"2025-01-02T00:00:00Z"}`},
		{webhook.PayloadNone, ""},
	} {
		got := generic.MinimizePayload([]byte(body), tc.mode)
		switch tc.want {
		case "":
			require.Nil(t, got)
		case body:
			require.Equal(t, body, string(got))
		default:
			require.JSONEq(t, tc.want, string(got))
		}
	}
}
