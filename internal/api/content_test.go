package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

func TestListContent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	at := time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC)
	item := func(id, client, provider, ctype string, deleted bool) store.IngestEvent {
		return store.IngestEvent{
			Event:   store.Event{EventID: "e-" + id, ClientID: client, ProviderName: provider, EventType: "content.updated", ContentID: id, Timestamp: at},
			Content: &store.ContentItem{ProviderName: provider, Source: "s", ContentID: id, ContentType: ctype, UpdatedAt: at, Deleted: deleted},
		}
	}
	_, err := f.store.IngestEvents(context.Background(), []store.IngestEvent{
		item("p1", "acme-corp", "shopify", "product", false),
		item("p2", "acme-corp", "shopify", "product", true),
		item("d1", "acme-corp", "sanity", "post", false),
		item("x1", "globex", "shopify", "product", false),
	})
	require.NoError(t, err)

	ids := func(l list[store.ContentItem]) []string {
		var out []string
		for _, c := range l.Items {
			out = append(out, c.ContentID)
		}
		return out
	}
	all := decodeAs[list[store.ContentItem]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/content", ""), http.StatusOK)
	require.Equal(t, []string{"d1", "p1"}, ids(all), "live items of the client, in key order")
	require.Equal(t, "sanity", all.Items[0].ProviderName)
	require.Equal(t, "e-d1", all.Items[0].EventID)

	withDeleted := decodeAs[list[store.ContentItem]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/content?include_deleted=true&provider=shopify", ""), http.StatusOK)
	require.Equal(t, []string{"p1", "p2"}, ids(withDeleted))
	require.True(t, withDeleted.Items[1].Deleted)

	page := decodeAs[list[store.ContentItem]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/content?limit=1", ""), http.StatusOK)
	require.Equal(t, []string{"d1"}, ids(page))
	require.NotEmpty(t, page.NextCursor)
	rest := decodeAs[list[store.ContentItem]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/content?limit=1&cursor="+page.NextCursor, ""), http.StatusOK)
	require.Equal(t, []string{"p1"}, ids(rest))

	typed := decodeAs[list[store.ContentItem]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/content?type=post", ""), http.StatusOK)
	require.Equal(t, []string{"d1"}, ids(typed))

	none := decodeAs[list[store.ContentItem]](t, f.do(t, http.MethodGet, "/v1/clients/initech/content", ""), http.StatusOK)
	require.Empty(t, none.Items)

	for _, q := range []string{"include_deleted=maybe", "cursor=@@@", "limit=0"} {
		w := f.do(t, http.MethodGet, "/v1/clients/acme-corp/content?"+q, "")
		require.Equal(t, http.StatusBadRequest, w.Code, q)
	}
}
