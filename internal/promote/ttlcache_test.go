package promote

import (
	"testing"
	"time"
)

func TestTTLCache(t *testing.T) {
	var c ttlCache[int]
	t0 := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	ttl := time.Minute
	c.put("a", 1, t0, ttl)
	if v, ok := c.get("a", t0.Add(59*time.Second), ttl); !ok || v != 1 {
		t.Fatalf("fresh entry: got %d, %v", v, ok)
	}
	if _, ok := c.get("a", t0.Add(ttl), ttl); ok {
		t.Fatal("an entry ttl old is stale")
	}
	if v, ok := c.last("a"); !ok || v != 1 {
		t.Fatalf("last keeps a stale entry until it is swept: %d, %v", v, ok)
	}
	// A put within ttl of the last sweep sweeps nothing; the next one does.
	c.put("b", 2, t0.Add(30*time.Second), ttl)
	c.put("c", 3, t0.Add(70*time.Second), ttl)
	if c.len() != 2 {
		t.Fatalf("after the sweep at 70s: %d entries, want b and c", c.len())
	}
	if _, ok := c.last("a"); ok {
		t.Fatal("a was swept")
	}
	c.put("d", 4, t0.Add(80*time.Second), ttl)
	if c.len() != 3 {
		t.Fatalf("no sweep within ttl of the last one: %d entries, want 3", c.len())
	}
	c.delete("d")
	if _, ok := c.get("d", t0.Add(80*time.Second), ttl); ok {
		t.Fatal("deleted")
	}
}
