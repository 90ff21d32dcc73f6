package store

import (
	"encoding/json"
	"strings"
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

func TestValidJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		``, ` `, `{`, `}`, `[`, `]`, `{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a" : [1, 2.5, -0.1e+3, true, false, null]}`,
		`{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `{"a":1}}`, `[[]]]`, `[{]}`,
		`"abc"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\uD83D\uDE00"`, `"\u00g0"`, `"\u00"`, `"\x"`, `"abc`, "\"a\x01b\"", "\"\xff\xfe\"",
		`0`, `-0`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `1E-2`, `-1.5e10`, `+1`, `1.5.2`, `0x10`, `1 `, ` 1 2`,
		`true`, `tru`, `truex`, `false`, `nul`, `null `, `NULL`, "\t\r\n[1]\n", "[1]\v", `{"a":{"b":{"c":[{"d":"e"}]}}}`,
	} {
		require.Equal(t, json.Valid([]byte(s)), ValidJSON([]byte(s)), "%q", s)
	}
	deep := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	require.True(t, ValidJSON(deep(maxJSONDepth)))
	require.False(t, ValidJSON(deep(maxJSONDepth+1)), "nested deeper than encoding/json allows")
	require.Equal(t, json.Valid(deep(maxJSONDepth+1)), ValidJSON(deep(maxJSONDepth+1)))
}

// FuzzValidJSON: ValidJSON decides as encoding/json's Valid does.
//
//	go test -run '^$' -fuzz FuzzValidJSON ./internal/store
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"title":"T-Shirt","variants":[{"id":2,"price":"29.99"}],"images":[]}`, `[1,-2.5e3,true,false,null]`,
		`"\u00e9\n"`, `{"a":`, `[1,]`, `01`, "\"\x1f\"", `{"a":{"b":[{}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if want := json.Valid(b); ValidJSON(b) != want {
			t.Fatalf("ValidJSON(%q) = %v, encoding/json says %v", b, !want, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	payload := []byte(`{"id":9554194432293,"title":"T-Shirt 1","body_html":"<p>Soft cotton tee.</p>","vendor":"Acme",` +
		`"product_type":"Shirts","handle":"t-shirt-1","status":"active","tags":"cotton, summer","created_at":"2025-04-01T10:00:00-05:00",` +
		`"updated_at":"2025-04-22T14:30:00-05:00","published_at":"2025-04-01T10:00:00-05:00","admin_graphql_api_id":"gid://shopify/Product/9554194432293",` +
		`"variants":[{"id":40000000000,"title":"M","price":"29.99","sku":"TS-M","inventory_quantity":12},` +
		`{"id":40000000001,"title":"L","price":"29.99","sku":"TS-L","inventory_quantity":7}],"options":[{"name":"Size","values":["M","L"]}],"images":[]}`)
	b.Run("ValidJSON", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			ValidJSON(payload)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			json.Valid(payload)
		}
	})
}
