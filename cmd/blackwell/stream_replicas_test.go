package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
)

// streamEvent is one event (or comment) of /v1/stream.
type streamEvent struct {
	id, kind, comment string
	result            store.ReconciliationResult // of a reconciliation.completed
}

// openReplicaStream reads GET base/v1/stream?query (with Last-Event-ID
// lastID when not empty) in a goroutine; cancel ends it.
func openReplicaStream(t *testing.T, hc *http.Client, base, query, lastID string) (<-chan streamEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/stream?"+query, nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := make(chan streamEvent, 4096)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur streamEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.id != "" || cur.comment != "" {
					out <- cur
				}
				cur = streamEvent{}
			case strings.HasPrefix(line, ":"):
				cur.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				var e struct {
					Data store.ReconciliationResult `json:"data"`
				}
				if json.Unmarshal([]byte(line[6:]), &e) == nil {
					cur.result = e.Data
				}
			}
		}
	}()
	// Subscribed once the server said so.
	select {
	case e := <-out:
		require.Equal(t, "connected", e.comment)
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not connect")
	}
	return out, cancel
}

// nextEvents reads events (not comments) of c until done says enough;
// a ": gap" comment fails the test.
func nextEvents(t *testing.T, c <-chan streamEvent, within time.Duration, done func([]streamEvent) bool) []streamEvent {
	t.Helper()
	var got []streamEvent
	deadline := time.After(within)
	for !done(got) {
		select {
		case e, ok := <-c:
			require.True(t, ok, "the stream ended after %d events", len(got))
			require.NotEqual(t, "gap", e.comment, "the stream lost events")
			if e.id != "" {
				got = append(got, e)
			}
		case <-deadline:
			t.Fatalf("%d events within %s, not enough", len(got), within)
		}
	}
	return got
}

// manualPasses counts the distinct stacks with a manual pass among es.
func manualPasses(es []streamEvent) int {
	stacks := map[string]bool{}
	for _, e := range es {
		if e.kind == "reconciliation.completed" && e.result.Trigger == "manual" {
			stacks[e.result.StackID] = true
		}
	}
	return len(stacks)
}

func ids(es []streamEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.id
	}
	return out
}

// TestStreamOfEveryReplica (issue 23): two replicas on one PostgreSQL
// share twelve stacks; a client-wide reconcile asked through replica B
// passes stacks on both, and the stream of each replica carries the
// passes of all twelve, with the same ids in the same order. A client that
// read part of them on A and reconnects to B with Last-Event-ID gets the
// rest: no gap, no repeat.
func TestStreamOfEveryReplica(t *testing.T) {
	t.Parallel()
	storeURL := pgtest.SchemaURL(t)
	bin, err := exec.LookPath("blackwell") // the test binary as the CLI (TestMain)
	require.NoError(t, err)
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(healthy.Close)

	const stacks = 12
	var cfg strings.Builder
	for i := range stacks {
		fmt.Fprintf(&cfg, `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: s%02d, environment: prod}
spec:
  resources:
    site: {probe: http, url: %q, expect_status: 200}
---
`, i, healthy.URL)
	}
	cfg.WriteString(`apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 1h}
`)
	cfgPath := filepath.Join(t.TempDir(), "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg.String()), 0o600))
	a := startReplica(t, bin, cfgPath, storeURL, nil)
	b := startReplica(t, bin, cfgPath, storeURL, nil)

	secretFile := filepath.Join(t.TempDir(), "admin.secret")
	out, err := exec.Command(bin, "token", "create", "--store", storeURL, "--name", "admin", "--role", "admin",
		"--secret-file", secretFile, "-o", "json").CombinedOutput()
	require.NoError(t, err, "%s", out)
	secret, err := os.ReadFile(secretFile)
	require.NoError(t, err)
	hc := bearerClient(strings.TrimSpace(string(secret)))

	// Both replicas hold some of the twelve stacks.
	st, err := postgres.Open(context.Background(), storeURL, postgres.WithMaxConns(2))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	pid := func(r *replica) string { return fmt.Sprintf(":%d:", r.cmd.Process.Pid) }
	poll.Until(t, 60*time.Second, "the twelve stacks spread over both replicas", func() bool {
		ls, err := st.ListLeases(context.Background())
		require.NoError(t, err)
		held := map[string]int{}
		for i := range stacks {
			l := ls[store.ShardOf("acme", fmt.Sprintf("s%02d", i))]
			if !l.ExpiresAt.After(time.Now()) {
				return false
			}
			for _, r := range []*replica{a, b} {
				if strings.Contains(l.Owner, pid(r)) {
					held[pid(r)]++
				}
			}
		}
		return len(held) == 2 && held[pid(a)]+held[pid(b)] == stacks
	})

	// Every stream from the log's head now on: the same starting point on
	// both replicas, whatever each has published already.
	page, err := st.ReadStream(context.Background(), 0, 0)
	require.NoError(t, err)
	head := strconv.FormatInt(page.Head, 10)
	query := "client_id=acme"
	onA, _ := openReplicaStream(t, hc, a.base, query, head)
	onB, _ := openReplicaStream(t, hc, b.base, query, head)
	partial, stopPartial := openReplicaStream(t, hc, a.base, query, head)

	resp, err := hc.Post(b.base+"/v1/clients/acme/reconcile", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	all := func(es []streamEvent) bool { return manualPasses(es) == stacks }
	gotA := nextEvents(t, onA, 60*time.Second, all)
	gotB := nextEvents(t, onB, 60*time.Second, all)
	require.Equal(t, stacks, manualPasses(gotA), "A's stream carries the passes of every stack, B's and its own")
	require.Equal(t, ids(gotA), ids(gotB), "both replicas: the same events, ids and order")
	seen := map[string]bool{}
	for _, e := range gotA {
		require.False(t, seen[e.id], "event %s twice", e.id)
		seen[e.id] = true
	}

	// A client that read four events on A, then reconnects to B.
	first := nextEvents(t, partial, 30*time.Second, func(es []streamEvent) bool { return len(es) == 4 })
	stopPartial()
	resumed, _ := openReplicaStream(t, hc, b.base, query, first[3].id)
	rest := nextEvents(t, resumed, 30*time.Second, func(es []streamEvent) bool { return len(es) == len(gotB)-4 })
	require.Equal(t, ids(gotB), append(ids(first), ids(rest)...), "resumed on the other replica: no gap, no repeat")
}
