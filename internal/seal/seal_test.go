package seal_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/seal"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func keyLine(t *testing.T, id string) string {
	t.Helper()
	l, err := seal.NewKeyLine(id)
	require.NoError(t, err)
	return l
}

func keyring(t *testing.T, lines ...string) *seal.Keyring {
	t.Helper()
	kr, err := seal.ParseKeyFile("keys.txt", []byte(strings.Join(lines, "\n")))
	require.NoError(t, err)
	return kr
}

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func event(id, payload string) store.Event {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := store.Event{EventID: id, ClientID: "acme", ProviderName: "shopify", EventType: "order.created",
		ContentID: id, Timestamp: now, ReceivedAt: now, TTLTimestamp: now.Add(time.Hour).Unix()}
	if payload != "" {
		e.Payload = json.RawMessage(payload)
	}
	return e
}

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	kr, err := seal.ParseKeyFile("k", []byte("# keys\n\nk2:"+good+"\n k1 : "+good+" \n"))
	require.NoError(t, err)
	require.Equal(t, "k2", kr.Current())
	require.Equal(t, []string{"k2", "k1"}, kr.IDs())
	for _, tc := range []struct{ body, want string }{
		{"", "k: no key"},
		{"# only a comment\n", "k: no key"},
		{"k1 " + good, "k:1: want id:base64"},
		{"k1:" + short, `k:1: key "k1" is not the base64 of 32 bytes`},
		{"k1:not base64!", `k:1: key "k1" is not the base64`},
		{"bad id:" + good, `k:1: key id "bad id"`},
		{"k1:" + good + "\n\nk1:" + good, `k:3: key id "k1" is listed twice`},
	} {
		_, err := seal.ParseKeyFile("k", []byte(tc.body))
		require.ErrorContains(t, err, tc.want, "%q", tc.body)
		require.NotContains(t, err.Error(), good, "no key material in errors")
	}
	_, err = seal.NewKeyLine("no spaces")
	require.Error(t, err)
}

// TestSealRoundTrip: a payload sealed for a row opens for that row only,
// not after any change of its bytes, and is stored as a JSON string
// naming its data key.
func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := seal.Open(ctx, newStore(t), seal.Options{Keyring: keyring(t, keyLine(t, "k1"))})
	require.NoError(t, err)
	sl := st.(*seal.Store).Sealer()

	plain := json.RawMessage(`{"id":1,"email":"ann@example.com"}`)
	v, err := sl.Seal(store.PayloadEvents, "shopify:acme:1", plain)
	require.NoError(t, err)
	require.True(t, json.Valid(v), "a sealed value is JSON")
	require.True(t, seal.IsSealed(v))
	require.Equal(t, sl.Current(), seal.KeyOf(v))
	require.NotContains(t, string(v), "ann@example.com")
	v2, err := sl.Seal(store.PayloadEvents, "shopify:acme:1", plain)
	require.NoError(t, err)
	require.NotEqual(t, string(v), string(v2), "a random nonce each time")

	got, err := sl.Open(store.PayloadEvents, "shopify:acme:1", v)
	require.NoError(t, err)
	require.Equal(t, string(plain), string(got))

	// Moved to another row or table: the additional data differs.
	_, err = sl.Open(store.PayloadEvents, "shopify:acme:2", v)
	require.ErrorIs(t, err, seal.ErrTampered)
	_, err = sl.Open(store.PayloadOutbox, "shopify:acme:1", v)
	require.ErrorIs(t, err, seal.ErrTampered)

	// Any byte of the ciphertext changed.
	s := string(v)
	body := s[strings.LastIndexByte(s, '.')+1 : len(s)-1]
	for _, i := range []int{0, len(body) / 2, len(body) - 2} {
		flipped := []byte(body)
		if flipped[i] == 'A' {
			flipped[i] = 'B'
		} else {
			flipped[i] = 'A'
		}
		tampered := s[:strings.LastIndexByte(s, '.')+1] + string(flipped) + `"`
		_, err = sl.Open(store.PayloadEvents, "shopify:acme:1", json.RawMessage(tampered))
		require.ErrorIs(t, err, seal.ErrTampered, "byte %d", i)
	}
	_, err = sl.Open(store.PayloadEvents, "shopify:acme:1", json.RawMessage(s[:len(s)-10]+`"`))
	require.ErrorIs(t, err, seal.ErrTampered, "truncated")
	// Another data key id: unknown.
	other := strings.Replace(s, seal.KeyOf(v), "dk_0000000000000000", 1)
	_, err = sl.Open(store.PayloadEvents, "shopify:acme:1", json.RawMessage(other))
	require.ErrorIs(t, err, seal.ErrUnknownKey)

	// Not sealed: as it is (rows from before sealing was on); nil stays nil.
	got, err = sl.Open(store.PayloadEvents, "x", plain)
	require.NoError(t, err)
	require.Equal(t, string(plain), string(got))
	nothing, err := sl.Seal(store.PayloadEvents, "x", nil)
	require.NoError(t, err)
	require.Nil(t, nothing)
}

// TestStoreSealsAtRest: through the sealing store events and outbox items
// read back as written; the store under it holds only sealed values, and a
// value moved to another row does not open.
func TestStoreSealsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := newStore(t)
	st, err := seal.Open(ctx, raw, seal.Options{Keyring: keyring(t, keyLine(t, "k1"))})
	require.NoError(t, err)

	_, err = st.IngestEvents(ctx, []store.IngestEvent{{Event: event("e1", `{"email":"ann@example.com"}`)}})
	require.NoError(t, err)
	_, err = st.InsertEvents(ctx, []store.Event{event("e2", `{"email":"bob@example.com"}`), event("e3", "")})
	require.NoError(t, err)
	require.NoError(t, st.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 1,
		Deliveries: []store.OutboxItem{{ID: "ch/1", Channel: "ch", Payload: json.RawMessage(`{"observed":"secret"}`)}}}))

	evs, _, err := st.ListEvents(ctx, store.EventQuery{Limit: 10})
	require.NoError(t, err)
	byID := map[string]string{}
	for _, e := range evs {
		byID[e.EventID] = string(e.Payload)
	}
	require.Equal(t, map[string]string{"e1": `{"email":"ann@example.com"}`, "e2": `{"email":"bob@example.com"}`, "e3": ""}, byID)
	items, err := st.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, `{"observed":"secret"}`, string(items[0].Payload))
	rows, err := st.ScanPayloads(ctx, store.PayloadScan{Table: store.PayloadEvents})
	require.NoError(t, err)
	require.Equal(t, `{"email":"ann@example.com"}`, string(rows[0].Payload), "scans are opened too")
	_, err = st.SwapPayloads(ctx, store.PayloadEvents, nil)
	require.Error(t, err)

	// Under it: sealed.
	rawEvs, _, err := raw.ListEvents(ctx, store.EventQuery{Limit: 10})
	require.NoError(t, err)
	for _, e := range rawEvs {
		if e.EventID == "e3" {
			require.Nil(t, e.Payload, "no payload stays none")
			continue
		}
		require.True(t, seal.IsSealed(e.Payload), e.EventID)
		require.NotContains(t, string(e.Payload), "example.com")
	}
	rawItems, err := raw.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.True(t, seal.IsSealed(rawItems[0].Payload))

	// Move e1's sealed payload onto e2 in the database: e2 no longer opens.
	var e1 json.RawMessage
	var e2 json.RawMessage
	for _, e := range rawEvs {
		switch e.EventID {
		case "e1":
			e1 = e.Payload
		case "e2":
			e2 = e.Payload
		}
	}
	n, err := raw.SwapPayloads(ctx, store.PayloadEvents, []store.PayloadSwap{{Key: "e2", Old: e2, New: e1}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, _, err = st.ListEvents(ctx, store.EventQuery{Limit: 10})
	require.ErrorIs(t, err, seal.ErrTampered, "a sealed value moved to another row does not open")
}

// TestOpenRefusesWrongOrMissingKey: a store with sealed data does not open
// without a key file, with a file that lacks its KEK's id, or with another
// key under that id; nothing is written then.
func TestOpenRefusesWrongOrMissingKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := newStore(t)

	// A store without data keys opens without a key file, as it is.
	plain, err := seal.Open(ctx, raw, seal.Options{})
	require.NoError(t, err)
	require.Same(t, raw, plain)

	k1 := keyLine(t, "k1")
	_, err = seal.Open(ctx, raw, seal.Options{Keyring: keyring(t, k1)})
	require.NoError(t, err)
	keys, err := raw.DataKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1, "the first open made a data key")
	require.Equal(t, "k1", keys[0].KEKID)

	_, err = seal.Open(ctx, raw, seal.Options{})
	require.ErrorIs(t, err, seal.ErrSealedStore)
	require.ErrorContains(t, err, "k1")
	require.ErrorContains(t, err, "--encryption-key-file")

	_, err = seal.Open(ctx, raw, seal.Options{Keyring: keyring(t, keyLine(t, "k2"))})
	require.ErrorContains(t, err, `wrapped by key-encryption key "k1", which keys.txt does not hold (it holds k2)`)

	_, err = seal.Open(ctx, raw, seal.Options{Keyring: keyring(t, keyLine(t, "k1"))})
	require.ErrorContains(t, err, `does not open with key-encryption key "k1" of keys.txt`)
	require.NotContains(t, err.Error(), k1[3:], "no key material in errors")

	after, err := raw.DataKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, keys, after, "refusals write nothing")

	// The right key, a new one in front of it: opens (older KEKs still open
	// their data keys).
	_, err = seal.Open(ctx, raw, seal.Options{Keyring: keyring(t, keyLine(t, "k2"), k1)})
	require.NoError(t, err)
}

// TestRotate: a rotation re-seals every row under a new data key wrapped by
// the current KEK, after which the old KEK can leave the key file; rows
// written during the rotation, by a server that still seals with the old
// data key, stay readable, and a second rotation re-seals them.
func TestRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := newStore(t)
	k1, k2 := keyLine(t, "k1"), keyLine(t, "k2")
	// A server that seals with k1's data key and never refreshes during
	// the test.
	srv, err := seal.Open(ctx, raw, seal.Options{Keyring: keyring(t, k1), Refresh: time.Hour})
	require.NoError(t, err)
	oldKey := srv.(*seal.Store).Sealer().Current()
	for i := 0; i < 25; i++ {
		_, err := srv.InsertEvents(ctx, []store.Event{event(fmt.Sprintf("e%02d", i), fmt.Sprintf(`{"n":%d}`, i))})
		require.NoError(t, err)
	}
	// A row from before sealing was on.
	_, err = raw.InsertEvents(ctx, []store.Event{event("plain", `{"n":"plain"}`)})
	require.NoError(t, err)
	require.NoError(t, srv.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 1,
		Deliveries: []store.OutboxItem{{ID: "ch/1", Channel: "ch", Payload: json.RawMessage(`{"o":1}`)}}}))

	// Rotate to k2 while the server keeps writing.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	written := make(chan string, 1000)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("during%03d", i)
			if _, err := srv.InsertEvents(ctx, []store.Event{event(id, `{"during":true}`)}); err != nil {
				t.Error(err)
				return
			}
			written <- id
		}
	}()
	rep, err := seal.Rotate(ctx, raw, keyring(t, k2, k1), seal.RotateOptions{Batch: 7})
	close(stop)
	wg.Wait()
	close(written)
	require.NoError(t, err)
	require.Equal(t, "k2", rep.KEK)
	require.Equal(t, 1, rep.Rewrapped)
	require.GreaterOrEqual(t, rep.Events, 26, "every row before the rotation, the plain one included")
	require.Equal(t, 1, rep.Outbox)

	_, err = seal.Rotate(ctx, srv, keyring(t, k2, k1), seal.RotateOptions{})
	require.Error(t, err, "rotation works on the store itself")

	// Only k2 now: every data key opens with it, every row reads back.
	only2 := keyring(t, k2)
	fresh, err := seal.Open(ctx, raw, seal.Options{Keyring: only2})
	require.NoError(t, err)
	require.Equal(t, rep.DataKey, fresh.(*seal.Store).Sealer().Current())
	evs, _, err := fresh.ListEvents(ctx, store.EventQuery{Limit: 1000})
	require.NoError(t, err)
	want := 26
	for range written {
		want++
	}
	require.Len(t, evs, want, "nothing lost")
	keys := rawKeys(ctx, t, raw)
	for _, e := range evs {
		require.NotEmpty(t, e.Payload)
		if k := keys[e.EventID]; k != rep.DataKey {
			require.Equal(t, oldKey, k, "written during the rotation with the old key")
		}
	}
	// A second rotation re-seals what the server wrote meanwhile.
	rep2, err := seal.Rotate(ctx, raw, only2, seal.RotateOptions{})
	require.NoError(t, err)
	require.Equal(t, want, rep2.Events, "every event moves to the newest key")
	require.Zero(t, rep2.Rewrapped, "all data keys are k2's already")
	for id, k := range rawKeys(ctx, t, raw) {
		require.Equal(t, rep2.DataKey, k, id)
	}
	items, err := fresh.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, `{"o":1}`, string(items[0].Payload))
}

func rawKeys(ctx context.Context, t *testing.T, raw store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	after := ""
	for {
		rows, err := raw.ScanPayloads(ctx, store.PayloadScan{Table: store.PayloadEvents, After: after, Limit: store.MaxLimit})
		require.NoError(t, err)
		for _, r := range rows {
			out[r.Key], after = seal.KeyOf(r.Payload), r.Key
		}
		if len(rows) < store.MaxLimit {
			return out
		}
	}
}
