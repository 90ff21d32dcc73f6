package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/poll"
)

func TestPriorityLimiterServesWaitingWritesBeforeWaitingReads(t *testing.T) {
	t.Parallel()
	p := newPriorityLimiter(0, 1) // no tokens flow until the test opens the tap
	require.NoError(t, p.Wait(context.Background(), false), "the burst")

	served := make(chan string, 8)
	start := func(name string, write bool, reads, writes int) {
		go func() {
			if err := p.Wait(context.Background(), write); err == nil {
				served <- name
			}
		}()
		poll.Until(t, 10*time.Second, name+" to queue", func() bool { w, r := p.waiting(); return w == writes && r == reads })
	}
	start("read1", false, 1, 0)
	start("read2", false, 2, 0)
	start("write1", true, 2, 1)
	start("read3", false, 3, 1)
	start("write2", true, 3, 2)

	p.mu.Lock()
	p.lim.SetLimit(rate.Limit(200))
	p.notifyLocked()
	p.mu.Unlock()
	var order []string
	for range 5 {
		select {
		case name := <-served:
			order = append(order, name)
		case <-time.After(5 * time.Second):
			t.Fatalf("served only %v", order)
		}
	}
	require.Equal(t, []string{"write1", "write2", "read1", "read2", "read3"}, order)
}

func TestPriorityLimiterLeavesOnCancel(t *testing.T) {
	t.Parallel()
	p := newPriorityLimiter(0, 1)
	require.NoError(t, p.Wait(context.Background(), false))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Wait(ctx, true) }()
	poll.Until(t, 10*time.Second, "the write to queue", func() bool { w, _ := p.waiting(); return w == 1 })
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	w, r := p.waiting()
	require.Zero(t, w+r, "a cancelled waiter leaves its queue")
}

// TestRateLimitIsPerAccount: two accounts behind one host do not share a
// bucket; two calls for one account do.
func TestRateLimitIsPerAccount(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	c := NewAPIClient(APIClientOptions{Provider: "shopify", RateLimit: rate.Every(time.Hour), Burst: 1})
	get := func(acct string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := c.Do(ctx, Request{Method: http.MethodGet, URL: srv.URL + "/admin/api/webhooks.json", Account: acct})
		return err
	}
	shopA := AccountKey("shopify", "a.myshopify.com", "tok-a")
	shopB := AccountKey("shopify", "b.myshopify.com", "tok-b")
	require.NoError(t, get(shopA))
	require.NoError(t, get(shopB), "another shop behind the same api_base has its own bucket")
	err := get(shopA) // a second stack of shop A: the same bucket, empty for an hour
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "rate limit")
	require.Equal(t, int64(2), hits.Load())
	require.Error(t, get(AccountKey("shopify", "A.myshopify.com ", "tok-a")), "the shop name is case and space blind")
	require.NoError(t, get(AccountKey("shopify", "a.myshopify.com", "tok-other")), "another token: another app, another bucket")
}

func TestAccountKeyHoldsNoSecret(t *testing.T) {
	t.Parallel()
	k := AccountKey("sanity", "proj1", "sk-very-secret-token")
	require.NotContains(t, k, "secret")
	require.Equal(t, k, AccountKey("Sanity", "proj1", "sk-very-secret-token"))
	require.NotEqual(t, k, AccountKey("sanity", "proj2", "sk-very-secret-token"))
	require.Equal(t, fmt.Sprintf("sanity|proj1|%s", k[len("sanity|proj1|"):]), k)
}

// TestHealCallsGoFirst: an APIClient call under ForHeal (a GET too) is
// served before observation reads that waited longer.
func TestHealCallsGoFirst(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	c := NewAPIClient(APIClientOptions{Provider: "sanity", RateLimit: 20, Burst: 1})
	acct := AccountKey("sanity", "p", "t")
	call := func(ctx context.Context, method string) error {
		_, err := c.Do(ctx, Request{Method: method, URL: srv.URL + "/hooks", Account: acct})
		return err
	}
	require.NoError(t, call(context.Background(), http.MethodGet))
	lim := c.account(acct).limiter
	lim.mu.Lock()
	lim.lim.SetLimit(0) // hold every waiter until the heal has queued
	lim.mu.Unlock()

	served := make(chan string, 4)
	for i, name := range []string{"observe1", "observe2"} {
		go func() {
			if call(context.Background(), http.MethodGet) == nil {
				served <- name
			}
		}()
		poll.Until(t, 10*time.Second, name+" to queue", func() bool { _, r := lim.waiting(); return r == i+1 })
	}
	go func() {
		if call(ForHeal(context.Background()), http.MethodGet) == nil {
			served <- "heal-read"
		}
	}()
	poll.Until(t, 10*time.Second, "the heal to queue", func() bool { w, _ := lim.waiting(); return w == 1 })
	lim.mu.Lock()
	lim.lim.SetLimit(200)
	lim.notifyLocked()
	lim.mu.Unlock()
	var order []string
	for range 3 {
		order = append(order, <-served)
	}
	require.Equal(t, []string{"heal-read", "observe1", "observe2"}, order)
}
