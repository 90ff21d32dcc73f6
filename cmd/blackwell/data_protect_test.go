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
	cfg := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(dataConfig), 0o600))
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
