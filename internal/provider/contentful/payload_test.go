package contentful_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
)

func TestMinimizePayload(t *testing.T) {
	t.Parallel()
	body := `{"sys":{"id":"e1","type":"Entry","version":3,"publishedCounter":1,"updatedAt":"2025-01-02T00:00:00Z",` +
		`"createdBy":{"sys":{"id":"user-1","type":"Link"}},"contentType":{"sys":{"id":"post","type":"Link"}},` +
		`"space":{"sys":{"id":"sp"}},"environment":{"sys":{"id":"master"}}},"fields":{"title":{"en-US":"Hello"}}}`
	for _, tc := range []struct {
		mode webhook.Payload
		want string
	}{
		{webhook.PayloadDefault, body},
		{webhook.PayloadFull, body},
		{webhook.PayloadMinimal, `{"sys":{"id":"e1","type":"Entry","version":3,"publishedCounter":1,` +
			`"updatedAt":"2025-01-02T00:00:00Z","contentType":{"sys":{"id":"post"}},"space":{"sys":{"id":"sp"}},` +
			`"environment":{"sys":{"id":"master"}}}}`},
		{webhook.PayloadNone, ""},
	} {
		got := contentful.MinimizePayload([]byte(body), tc.mode)
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
