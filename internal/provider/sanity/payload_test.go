package sanity_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
)

func TestMinimizePayload(t *testing.T) {
	t.Parallel()
	body := `{"_id":"post-1","_type":"post","_rev":"r2","_createdAt":"2025-01-01T00:00:00Z","_updatedAt":"2025-01-02T00:00:00Z",` +
		`"slug":{"_type":"slug","current":"hello"},"title":"Hello","author":{"name":"Ann","email":"ann@example.com"}}`
	for _, tc := range []struct {
		mode webhook.Payload
		want string
	}{
		{webhook.PayloadDefault, body},
		{webhook.PayloadFull, body},
		{webhook.PayloadMinimal, `{"_id":"post-1","_type":"post","_rev":"r2","_createdAt":"2025-01-01T00:00:00Z",` +
			`"_updatedAt":"2025-01-02T00:00:00Z","slug":{"current":"hello"}}`},
		{webhook.PayloadNone, ""},
	} {
		got := sanity.MinimizePayload([]byte(body), tc.mode)
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
