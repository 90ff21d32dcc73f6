package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/seal"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// dataConfig is one stack bound to a shop whose API is a closed port:
// observations are unknown, deliveries are what the tests look at.
const dataConfig = `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop, environment: prod}
spec:
  providers:
    ecommerce:
      name: shopify
      settings: {shop: acme, api_base: "http://127.0.0.1:1"}
      webhook_secret: "${SHOP_SECRET}"
`

const dataShopSecret = "data-protect-secret"

// dataServer is a server of the data protection tests on dir's store.
type dataServer struct {
	srv  *server
	base string
}

func startDataServer(t *testing.T, dir, keyFile string) (*dataServer, error) {
	t.Helper()
	return startDataServerWith(t, dir, keyFile, dataConfig)
}

func startDataServerWith(t *testing.T, dir, keyFile, config string) (*dataServer, error) {
	t.Helper()
	cfg := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfg, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
		getenv: func(k string) (string, bool) {
			if k == "SHOP_SECRET" {
				return dataShopSecret, true
			}
			return "", false
		},
		encryptionKeyFile: keyFile,
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) }) // once: it may have stopped already
	return &dataServer{srv: srv, base: "http://" + srv.Addr()}, nil
}

// deliver posts a signed Shopify delivery as Shopify sends one.
func (d *dataServer) deliver(t *testing.T, topic, eventID string, body []byte) map[string]any {
	t.Helper()
	h := shopify.Delivery{Topic: topic, ShopDomain: "acme.myshopify.com", APIVersion: "2025-07",
		WebhookID: "wh-" + eventID, EventID: eventID, TriggeredAt: time.Now()}.Header(dataShopSecret, body)
	req, err := http.NewRequest(http.MethodPost, d.base+"/v1/webhooks/shopify/acme", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var ans map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
	require.Equal(t, http.StatusOK, resp.StatusCode, ans)
	return ans
}

// privacyCounts is a receipt's privacy report: events, content, outbox.
func privacyCounts(t *testing.T, ans map[string]any) [3]int {
	t.Helper()
	p, ok := ans["privacy"].(map[string]any)
	require.True(t, ok, "a privacy report: %v", ans)
	return [3]int{int(p["events"].(float64)), int(p["content"].(float64)), int(p["outbox"].(float64))}
}

// payloads returns the payloads the API shows, by event id.
func (d *dataServer) payloads(t *testing.T) map[string]string {
	t.Helper()
	resp, err := bearerClient(d.srv.bootstrapToken).Get(d.base + "/v1/events?client_id=acme&limit=100")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var page struct {
		Items []struct {
			EventID string          `json:"event_id"`
			Payload json.RawMessage `json:"payload"`
		} `json:"items"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	out := map[string]string{}
	for _, it := range page.Items {
		out[it.EventID] = string(it.Payload)
	}
	return out
}

// inFiles reports which of the database's files (the WAL and shared
// memory included) hold s, raw bytes.
func inFiles(t *testing.T, dir, s string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "blackwell.db*"))
	require.NoError(t, err)
	require.NotEmpty(t, matches)
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		require.NoError(t, err)
		if bytes.Contains(b, []byte(s)) {
			out = append(out, filepath.Base(m))
		}
	}
	return out
}

// orderBody is an orders/create body with a customer's email, name and
// address, and an order name (#...) that a minimal payload keeps.
func orderBody(id int, email, name, street string) []byte {
	return []byte(fmt.Sprintf(`{"id":%d,"email":%q,"contact_email":%q,"name":%q,"financial_status":"paid",`+
		`"created_at":"2025-04-22T14:30:00Z","updated_at":"2025-04-22T14:30:00Z",`+
		`"customer":{"id":77,"email":%q,"first_name":"Ann","last_name":"Example"},`+
		`"shipping_address":{"address1":%q,"city":"Ottawa"}}`, id, email, email, name, email, street))
}

// TestOrderEmailNeverReachesTheDatabaseFiles: an orders/create delivery
// carrying a unique email is accepted; the raw bytes of every database
// file (WAL included), while serving and after, do not contain the email
// nor the street, with and without an encryption key. Without a key the
// kept order name is in the files (so the search can find what is
// there); with one it is not, though the API shows it.
func TestOrderEmailNeverReachesTheDatabaseFiles(t *testing.T) {
	t.Parallel()
	for _, withKey := range []bool{false, true} {
		t.Run(fmt.Sprintf("key=%v", withKey), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keyFile := ""
			if withKey {
				keyFile = filepath.Join(dir, "keys.txt")
				line, err := seal.NewKeyLine("k1")
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(keyFile, []byte(line+"\n"), 0o600))
			}
			d, err := startDataServer(t, dir, keyFile)
			require.NoError(t, err)

			uniq := fmt.Sprintf("%d", time.Now().UnixNano())
			email := "buyer-" + uniq + "@example.com"
			street := uniq + " Elm Street"
			name := "#BW" + uniq
			ans := d.deliver(t, "orders/create", "evt-"+uniq, orderBody(4242, email, name, street))
			require.Equal(t, false, ans["duplicate"])

			shown := d.payloads(t)["shopify:acme:evt-"+uniq]
			require.Contains(t, shown, name, "the API shows the kept fields")
			require.NotContains(t, shown, email)

			check := func(when string) {
				require.Empty(t, inFiles(t, dir, email), "%s: the email is in the database files", when)
				require.Empty(t, inFiles(t, dir, street), "%s: the street is in the database files", when)
				if withKey {
					require.Empty(t, inFiles(t, dir, name), "%s: a kept field is readable in the files", when)
					require.Empty(t, inFiles(t, dir, `"financial_status"`), "%s: a kept field's name is readable", when)
				} else {
					require.NotEmpty(t, inFiles(t, dir, name), "%s: without a key the kept name is stored as it is", when)
				}
			}
			check("while serving")
			// An online backup (blackwell backup) copies rows as stored:
			// sealed with a key, minimal without; it lands in dir, so the
			// checks read it too.
			_, err = sqlite.Backup(context.Background(), filepath.Join(dir, "blackwell.db"), filepath.Join(dir, "backup.db"))
			require.NoError(t, err)
			check("with a backup")
			require.NoError(t, d.srv.Shutdown(context.Background()))
			check("after shutdown")
		})
	}
}

func writeKeys(t *testing.T, path string, ids ...string) []string {
	t.Helper()
	var lines []string
	for _, id := range ids {
		l, err := seal.NewKeyLine(id)
		require.NoError(t, err)
		lines = append(lines, l)
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return lines
}

// TestSealedStoreNeedsItsKeyAndRotates: a store holding sealed payloads
// refuses to serve without a key file, with another key under its KEK's id,
// or with a file lacking that id; keys rotate moves it to a new KEK, after
// which the old one may leave the file and every payload still reads.
func TestSealedStoreNeedsItsKeyAndRotates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1File := filepath.Join(dir, "k1.txt")
	k1 := writeKeys(t, k1File, "k1")[0]
	d, err := startDataServer(t, dir, k1File)
	require.NoError(t, err)
	d.deliver(t, "orders/create", "evt-1", orderBody(1, "a@example.com", "#1001", "1 Elm St"))
	d.deliver(t, "products/update", "evt-2", []byte(`{"id":2,"title":"T-Shirt","updated_at":"2025-04-22T14:30:00Z"}`))
	before := d.payloads(t)
	require.Len(t, before, 2)
	require.NoError(t, d.srv.Shutdown(context.Background()))

	_, err = startDataServer(t, dir, "")
	require.ErrorContains(t, err, "the store holds sealed data (its data keys are wrapped by key-encryption key k1): start with --encryption-key-file")

	wrong := filepath.Join(dir, "wrong.txt")
	writeKeys(t, wrong, "k1")
	_, err = startDataServer(t, dir, wrong)
	require.ErrorContains(t, err, `does not open with key-encryption key "k1"`)

	k2File := filepath.Join(dir, "k2.txt")
	k2 := writeKeys(t, k2File, "k2")[0]
	_, err = startDataServer(t, dir, k2File)
	require.ErrorContains(t, err, `wrapped by key-encryption key "k1", which `+k2File+` does not hold (it holds k2)`)

	// reconcile --once refuses it without the key too.
	_, errOut, code := runCLI(t, "reconcile", "--once", "--store", "sqlite://"+filepath.Join(dir, "blackwell.db"),
		"--encryption-key-file", "")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "the store holds sealed data")

	// Rotate to k2 (k1 still in the file to open the old data key).
	both := filepath.Join(dir, "both.txt")
	require.NoError(t, os.WriteFile(both, []byte(k2+"\n"+k1+"\n"), 0o600))
	out, errOut, code := runCLI(t, "keys", "rotate", "--store", "sqlite://"+filepath.Join(dir, "blackwell.db"), "--encryption-key-file", both)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "(wrapped by k2); 1 older data keys re-wrapped; re-sealed 2 events")

	d, err = startDataServer(t, dir, k2File)
	require.NoError(t, err, "k1 is no longer needed")
	require.Equal(t, before, d.payloads(t))
}

// TestPrivacyWebhooksAndEraseRemoveTheSubject: with full payloads kept and
// sealed, Shopify's customers/data_request reports what is held about a
// customer, customers/redact removes the customer's events (by email, id
// and orders) and the notifications naming them, shop/redact the shop's
// events and content, and blackwell erase does the same on the store; the
// audit log records each without the data.
func TestPrivacyWebhooksAndEraseRemoveTheSubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.txt")
	writeKeys(t, keyFile, "k1")
	d, err := startDataServerWith(t, dir, keyFile, dataConfig+`---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  events: {payload: full}
`)
	require.NoError(t, err)
	ann, bob := "ann.privacy@example.com", "bob.privacy@example.com"
	d.deliver(t, "orders/create", "o1", orderBody(1001, ann, "#1001", "1 Elm St"))
	d.deliver(t, "orders/create", "o2", []byte(`{"id":1002,"email":"`+bob+`","customer":{"id":88},"updated_at":"2025-04-22T14:30:00Z"}`))
	d.deliver(t, "customers/update", "c1", []byte(`{"id":77,"email":"`+ann+`","updated_at":"2025-04-22T14:30:00Z"}`))
	d.deliver(t, "products/update", "p1", []byte(`{"id":5,"title":"Tee","updated_at":"2025-04-22T14:30:00Z"}`))
	// A pending notification that names ann, and one that does not.
	require.NoError(t, d.srv.store.CommitSubscriber(ctx, storeCommit("privacy-test",
		`{"client_id":"acme","observed":"`+ann+`"}`, `{"client_id":"acme","observed":"ok"}`)))
	stored := d.payloads(t)
	require.Contains(t, stored["shopify:acme:o1"], ann, "full payloads keep the email")

	redactBody := []byte(`{"shop_id":1,"shop_domain":"acme.myshopify.com","customer":{"id":77,"email":"` + ann +
		`","phone":"555-0100"},"orders_to_redact":[1001]}`)
	ans := d.deliver(t, "customers/data_request", "dr1", []byte(`{"shop_id":1,"shop_domain":"acme.myshopify.com",`+
		`"customer":{"id":77,"email":"`+ann+`"},"orders_requested":[1001],"data_request":{"id":9}}`))
	require.Equal(t, [3]int{2, 0, 1}, privacyCounts(t, ans), "the order, the customer and a notification are held")
	require.Len(t, d.payloads(t), 5, "a data request erases nothing")

	ans = d.deliver(t, "customers/redact", "rd1", redactBody)
	require.Equal(t, [3]int{2, 0, 1}, privacyCounts(t, ans))
	after := d.payloads(t)
	require.ElementsMatch(t, []string{"shopify:acme:o2", "shopify:acme:p1", "shopify:acme:dr1", "shopify:acme:rd1"}, eventKeys(after))
	for id, p := range after {
		require.NotContains(t, p, ann, id)
	}
	require.NotContains(t, after["shopify:acme:rd1"], "555-0100", "the request itself keeps the customer's id only")
	pending, err := d.srv.store.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "privacy-test", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.NotContains(t, string(pending[0].Payload), ann)

	// A redelivery (after a lost answer) finds nothing more.
	ans = d.deliver(t, "customers/redact", "rd1", redactBody)
	require.Equal(t, true, ans["duplicate"])
	require.Equal(t, [3]int{0, 0, 0}, privacyCounts(t, ans))

	ans = d.deliver(t, "shop/redact", "sr1", []byte(`{"shop_id":1,"shop_domain":"acme.myshopify.com"}`))
	require.Equal(t, [3]int{2, 1, 0}, privacyCounts(t, ans), "bob's order, the product and its content row (no notification names the shop)")
	require.ElementsMatch(t, []string{"shopify:acme:dr1", "shopify:acme:rd1", "shopify:acme:sr1"}, eventKeys(d.payloads(t)))

	resp, err := bearerClient(d.srv.bootstrapToken).Get(d.base + "/v1/audit?action=data_erased")
	require.NoError(t, err)
	audit, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(string(audit), `"action":"data_erased"`), string(audit))
	require.NotContains(t, string(audit), ann)
	require.Contains(t, string(audit), `"sha256":"`)

	// Through the API: blackwell erase without --store.
	api := []string{"--server", d.base, "--token", d.srv.bootstrapToken, "erase", "acme"}
	out, errOut, code := runCLI(t, append(api, "--all", "--dry-run")...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "found 0 events, 0 content items, 1 notification of acme")
	_, errOut, code = runCLI(t, append(api, "--all", "--encryption-key-file", keyFile)...)
	require.Equal(t, 2, code, "the key file is for --store")
	require.Contains(t, errOut, "--encryption-key-file is for --store")
	out, errOut, code = runCLI(t, append(api, "--subject", bob, "-o", "json")...)
	require.Equal(t, 0, code, errOut)
	var rep struct {
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
		Events   *int   `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, "acme", rep.ClientID)
	require.Equal(t, "subject", rep.Scope)
	require.NotNil(t, rep.Events)
	resp, err = bearerClient(d.srv.bootstrapToken).Get(d.base + "/v1/audit?action=data_erased")
	require.NoError(t, err)
	audit, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 4, strings.Count(string(audit), `"action":"data_erased"`), string(audit))
	require.Contains(t, string(audit), `"reason":"api"`)
	require.NotContains(t, string(audit), bob)
	require.NoError(t, d.srv.Shutdown(ctx))

	// On the store: blackwell erase, here of everything left of acme.
	storeURL := "sqlite://" + filepath.Join(dir, "blackwell.db")
	_, errOut, code = runCLI(t, "erase", "acme", "--store", storeURL, "--all")
	require.Equal(t, 1, code, "the payloads are sealed: the key is needed")
	require.Contains(t, errOut, "--encryption-key-file")
	out, errOut, code = runCLI(t, "erase", "acme", "--store", storeURL, "--subject", bob, "--encryption-key-file", keyFile, "--dry-run")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "found 0 events", "bob's order went with the shop")
	out, errOut, code = runCLI(t, "erase", "acme", "--store", storeURL, "--all", "--encryption-key-file", keyFile)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "erased 0 events, 0 content items, 1 notification of acme", "privacy requests are kept as their record")
}

func eventKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// storeCommit is a subscriber's first commit with deliveries of these
// payloads.
func storeCommit(name string, payloads ...string) store.SubscriberCommit {
	c := store.SubscriberCommit{Name: name, Create: true, To: 1}
	for i, p := range payloads {
		c.Deliveries = append(c.Deliveries, store.OutboxItem{ID: fmt.Sprintf("test/%d", i), Channel: "test", Payload: json.RawMessage(p)})
	}
	return c
}
