package shopify_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
)

// The bodies follow the REST resources of shopify.dev's webhook reference
// (orders/create, customers/update, checkouts/create) and the compliance
// topics' documented examples
// (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance).
const (
	orderBody = `{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/820982911946154508",
	"email":"jon@example.com","contact_email":"jon@example.com","phone":"+15551234567","browser_ip":"10.0.0.1",
	"name":"#9999","order_number":1234,"test":true,"financial_status":"voided","fulfillment_status":"pending",
	"created_at":"2021-12-31T19:00:00-05:00","updated_at":"2021-12-31T19:00:00-05:00","currency":"USD",
	"note":"leave at the back door","cancelled_at":"2021-12-31T19:00:00-05:00","cancel_reason":"customer",
	"customer":{"id":115310627314723954,"email":"jon@example.com","first_name":"John","last_name":"Smith",
	"default_address":{"address1":"123 Elm St.","city":"Ottawa","zip":"K2H7A8"}},
	"billing_address":{"first_name":"Steve","address1":"123 Shipping Street","phone":"555-555-SHIP"},
	"shipping_address":{"first_name":"Steve","address1":"123 Shipping Street"},
	"line_items":[{"id":866550311766439020,"product_id":632910392,"variant_id":808950810,"quantity":1,
	"title":"IPod Nano - 8GB","properties":[{"name":"engraving","value":"For Jon"}]}]}`
	orderMinimal = `{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/820982911946154508",
	"name":"#9999","order_number":1234,"test":true,"financial_status":"voided","fulfillment_status":"pending",
	"created_at":"2021-12-31T19:00:00-05:00","updated_at":"2021-12-31T19:00:00-05:00","currency":"USD",
	"cancelled_at":"2021-12-31T19:00:00-05:00","cancel_reason":"customer",
	"customer":{"id":115310627314723954},
	"line_items":[{"id":866550311766439020,"product_id":632910392,"variant_id":808950810,"quantity":1}]}`

	customerBody = `{"id":706405506930370084,"email":"bob@biller.com","first_name":"Bob","last_name":"Biller",
	"phone":null,"state":"disabled","note":"This customer loves ice cream","verified_email":true,
	"created_at":"2021-12-31T19:00:00-05:00","updated_at":"2021-12-31T19:00:00-05:00",
	"addresses":[{"address1":"123 Elm St."}],"admin_graphql_api_id":"gid://shopify/Customer/706405506930370084"}`
	customerMinimal = `{"id":706405506930370084,"state":"disabled","created_at":"2021-12-31T19:00:00-05:00",
	"updated_at":"2021-12-31T19:00:00-05:00","admin_graphql_api_id":"gid://shopify/Customer/706405506930370084"}`

	checkoutBody = `{"id":981820079255243537,"token":"123123123","cart_token":"eeafa272cebfd4b22385bc4b645e762c",
	"email":"example@email.com","created_at":"2021-12-31T19:00:00-05:00","updated_at":"2021-12-31T19:00:00-05:00",
	"completed_at":null,"currency":"USD","billing_address":{"address1":"Chestnut Street 92"},
	"customer":{"id":603851970716743426,"email":"john@doe.ca","first_name":"John"}}`
	checkoutMinimal = `{"id":981820079255243537,"token":"123123123","created_at":"2021-12-31T19:00:00-05:00",
	"updated_at":"2021-12-31T19:00:00-05:00","completed_at":null,"currency":"USD","customer":{"id":603851970716743426}}`

	redactBody = `{"shop_id":954889,"shop_domain":"acme.myshopify.com","customer":{"id":191167,
	"email":"john@example.com","phone":"555-625-1199"},"orders_to_redact":[299938,280263,220458]}`
	redactMinimal = `{"shop_id":954889,"shop_domain":"acme.myshopify.com","customer":{"id":191167},
	"orders_to_redact":[299938,280263,220458]}`
	dataRequestBody = `{"shop_id":954889,"shop_domain":"acme.myshopify.com","orders_requested":[299938],
	"customer":{"id":191167,"email":"john@example.com","phone":"555-625-1199"},"data_request":{"id":9999}}`
	dataRequestMinimal = `{"shop_id":954889,"shop_domain":"acme.myshopify.com","orders_requested":[299938],
	"customer":{"id":191167},"data_request":{"id":9999}}`
	shopRedactBody = `{"shop_id":954889,"shop_domain":"acme.myshopify.com"}`

	productBody = `{"id":9554194432293,"title":"T-Shirt","body_html":"<p>soft</p>","handle":"t-shirt",
	"status":"active","updated_at":"2025-04-22T14:30:00-05:00","variants":[{"id":123456789,"price":"29.99"}]}`
	productMinimal = `{"id":9554194432293,"handle":"t-shirt","status":"active",
	"updated_at":"2025-04-22T14:30:00-05:00","variants":[{"id":123456789}]}`
)

func TestMinimizePayload(t *testing.T) {
	t.Parallel()
	const (
		def  = webhook.PayloadDefault
		min  = webhook.PayloadMinimal
		full = webhook.PayloadFull
		none = webhook.PayloadNone
	)
	for _, tc := range []struct {
		topic string
		body  string
		mode  webhook.Payload
		want  string // "" for no payload
	}{
		// Personal-data topics are minimal by default.
		{"orders/create", orderBody, def, orderMinimal},
		{"orders/paid", orderBody, def, orderMinimal},
		{"orders/create", orderBody, min, orderMinimal},
		{"customers/update", customerBody, def, customerMinimal},
		{"checkouts/create", checkoutBody, def, checkoutMinimal},
		// ...unless the operator asks for more, or less.
		{"orders/create", orderBody, full, orderBody},
		{"orders/create", orderBody, none, ""},
		// Other topics are full by default.
		{"products/update", productBody, def, productBody},
		{"products/update", productBody, min, productMinimal},
		{"products/update", productBody, none, ""},
		{"collections/update", `{"id":1,"title":"x","handle":"h","updated_at":"2025-01-01T00:00:00Z","body_html":"y"}`, min,
			`{"id":1,"handle":"h","updated_at":"2025-01-01T00:00:00Z"}`},
		// The privacy topics are never full.
		{"customers/redact", redactBody, def, redactMinimal},
		{"customers/redact", redactBody, full, redactMinimal},
		{"customers/redact", redactBody, none, ""},
		{"customers/data_request", dataRequestBody, full, dataRequestMinimal},
		{"shop/redact", shopRedactBody, def, `{"shop_domain":"acme.myshopify.com","shop_id":954889}`},
		// A body that is not an object keeps nothing.
		{"orders/create", `[1,2]`, def, ""},
	} {
		t.Run(tc.topic+"/"+string(tc.mode), func(t *testing.T) {
			t.Parallel()
			got := shopify.MinimizePayload(tc.topic, []byte(tc.body), tc.mode)
			if tc.want == "" {
				require.Nil(t, got)
				return
			}
			if tc.want == tc.body && tc.mode != webhook.PayloadMinimal && !shopify.IsPrivacyTopic(tc.topic) {
				require.Equal(t, tc.body, string(got), "full keeps the bytes as delivered")
				return
			}
			require.JSONEq(t, tc.want, string(got))
			for _, pii := range []string{"@", "Smith", "Elm St", "555-", "10.0.0.1", "back door", "Biller", "Chestnut"} {
				require.NotContains(t, string(got), pii)
			}
		})
	}
}

func TestPayloadModeDefaults(t *testing.T) {
	t.Parallel()
	for topic, want := range map[string]webhook.Payload{
		"orders/create": webhook.PayloadMinimal, "orders/updated": webhook.PayloadMinimal,
		"customers/create": webhook.PayloadMinimal, "checkouts/update": webhook.PayloadMinimal,
		"customers/redact": webhook.PayloadMinimal, "customers/data_request": webhook.PayloadMinimal,
		"shop/redact": webhook.PayloadMinimal, "products/update": webhook.PayloadFull,
		"collections/delete": webhook.PayloadFull, "app/uninstalled": webhook.PayloadFull,
		"inventory_levels/update": webhook.PayloadFull,
	} {
		require.Equal(t, want, shopify.PayloadMode(topic, webhook.PayloadDefault), topic)
		require.Equal(t, webhook.PayloadNone, shopify.PayloadMode(topic, webhook.PayloadNone), topic)
		require.Equal(t, !strings.Contains("customers/redact customers/data_request shop/redact", topic),
			shopify.PayloadMode(topic, webhook.PayloadFull) == webhook.PayloadFull, topic)
	}
}

func TestParsePrivacy(t *testing.T) {
	t.Parallel()
	req, ok, err := shopify.ParsePrivacy("customers/redact", []byte(redactBody))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, shopify.PrivacyRequest{Topic: "customers/redact", ShopDomain: "acme.myshopify.com", CustomerID: "191167",
		Email: "john@example.com", Phone: "555-625-1199", OrderIDs: []string{"299938", "280263", "220458"}}, req)
	req, _, err = shopify.ParsePrivacy("customers/data_request", []byte(dataRequestBody))
	require.NoError(t, err)
	require.Equal(t, []string{"299938"}, req.OrderIDs)
	req, _, err = shopify.ParsePrivacy("shop/redact", []byte(shopRedactBody))
	require.NoError(t, err)
	require.Equal(t, shopify.PrivacyRequest{Topic: "shop/redact", ShopDomain: "acme.myshopify.com"}, req)

	_, ok, err = shopify.ParsePrivacy("orders/create", []byte(orderBody))
	require.NoError(t, err)
	require.False(t, ok)
	for topic, body := range map[string]string{
		"customers/redact":       `{"shop_domain":"acme.myshopify.com"}`,
		"shop/redact":            `{"shop_id":1}`,
		"customers/data_request": `{"customer":{"id":"x"}}`,
	} {
		_, ok, err := shopify.ParsePrivacy(topic, []byte(body))
		require.True(t, ok)
		require.ErrorIs(t, err, webhook.ErrMalformed, topic)
	}
}
