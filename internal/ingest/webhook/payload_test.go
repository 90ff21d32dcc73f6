package webhook_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
)

func TestKeep(t *testing.T) {
	t.Parallel()
	shape := webhook.Shape{
		"id": nil, "status": nil, "ids": nil,
		"customer":   {"id": nil},
		"line_items": {"id": nil, "quantity": nil},
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"scalars kept, others dropped", `{"id":1,"status":"open","email":"a@b.c","note":null}`, `{"id":1,"status":"open"}`},
		{"nested object keeps its shape", `{"customer":{"id":7,"email":"a@b.c","first_name":"Ann"}}`, `{"customer":{"id":7}}`},
		{"arrays of objects keep each one's shape", `{"line_items":[{"id":1,"quantity":2,"title":"x"},{"id":2,"name":"y"},3]}`, `{"line_items":[{"id":1,"quantity":2},{"id":2}]}`},
		{"arrays of scalars kept under a nil shape", `{"ids":[1,2,"3",{"email":"a@b.c"}]}`, `{"ids":[1,2,"3"]}`},
		{"an object where a scalar is expected is dropped", `{"id":{"email":"a@b.c"},"status":["x",{"a":1}]}`, `{"status":["x"]}`},
		{"a scalar where an object is expected is dropped", `{"customer":"a@b.c"}`, `{}`},
		{"null customer dropped", `{"customer":null}`, `{}`},
		{"empty object", `{}`, `{}`},
		{"whitespace", " \n{ \"id\" : 5 }", `{"id":5}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.JSONEq(t, tc.want, string(webhook.Keep([]byte(tc.body), shape)))
		})
	}
	for _, bad := range []string{`[]`, `"x"`, `12`, `{"id":`, ``} {
		require.Nil(t, webhook.Keep([]byte(bad), shape), "%q keeps nothing", bad)
	}
}

func TestLeast(t *testing.T) {
	t.Parallel()
	all := []webhook.Payload{webhook.PayloadNone, webhook.PayloadMinimal, webhook.PayloadDefault, webhook.PayloadFull}
	for i, a := range all {
		for j, b := range all {
			want := all[min(i, j)]
			require.Equal(t, want, webhook.Least(a, b), "%q, %q", a, b)
		}
	}
}
