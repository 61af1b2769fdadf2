package gencache

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	c := &Cache[string, int]{TTL: 5 * time.Second, Now: func() time.Time { return now }}

	g := c.Gen()
	c.Put("a", 1, g, c.Time(), time.Time{})
	c.Put("short", 2, g, c.Time(), t0.Add(time.Second)) // its own deadline first
	if v, ok := c.Get("a", g, c.Time()); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v", v, ok)
	}
	now = t0.Add(time.Second)
	if _, ok := c.Get("short", g, c.Time()); ok {
		t.Error("an entry is used at its own deadline")
	}
	now = t0.Add(5 * time.Second)
	if _, ok := c.Get("a", g, c.Time()); ok {
		t.Error("an entry is used after TTL")
	}

	// An answer looked up before an Invalidate is never used after it.
	now = t0
	g = c.Gen()
	c.Invalidate()
	c.Put("raced", 3, g, c.Time(), time.Time{})
	if _, ok := c.Get("raced", c.Gen(), c.Time()); ok {
		t.Error("an entry of the old generation is used")
	}
	g = c.Gen()
	c.Put("b", 4, g, c.Time(), time.Time{})
	c.Invalidate()
	if _, ok := c.Get("b", c.Gen(), c.Time()); ok {
		t.Error("Invalidate kept an entry")
	}
}

func TestCacheBound(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c := &Cache[int, int]{TTL: time.Minute, Size: 3, Now: func() time.Time { return now }}
	c.Put(1, 1, c.Gen(), now, now.Add(time.Second)) // stale soon
	c.Put(2, 2, c.Gen(), now, time.Time{})
	c.Put(3, 3, c.Gen(), now, time.Time{})
	now = now.Add(2 * time.Second)
	c.Put(4, 4, c.Gen(), now, time.Time{})
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want the bound 3", c.Len())
	}
	for _, k := range []int{2, 3, 4} {
		if _, ok := c.Get(k, c.Gen(), now); !ok {
			t.Errorf("live entry %d dropped while a stale one could go", k)
		}
	}
	for k := 5; k < 50; k++ {
		c.Put(k, k, c.Gen(), now, time.Time{})
		if c.Len() > 3 {
			t.Fatalf("Len = %d past the bound", c.Len())
		}
	}
	if _, ok := c.Get(49, c.Gen(), now); !ok {
		t.Error("the newest entry is missing")
	}
}

// TestUpdateKeepsDeadline: Update changes a live entry's value but never
// its deadline, and never brings back an expired or invalidated one.
func TestUpdateKeepsDeadline(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	c := &Cache[string, int]{TTL: 5 * time.Second, Now: func() time.Time { return now }}
	g := c.Gen()
	c.Put("a", 1, g, now, time.Time{})
	now = t0.Add(4 * time.Second)
	if !c.Update("a", 2, g, now) {
		t.Fatal("Update of a live entry refused")
	}
	if v, ok := c.Get("a", g, now); !ok || v != 2 {
		t.Fatalf("Get = %v, %v after Update", v, ok)
	}
	now = t0.Add(5 * time.Second)
	if _, ok := c.Get("a", g, now); ok {
		t.Error("Update extended the entry past its deadline")
	}
	if c.Update("a", 3, g, now) {
		t.Error("Update brought back an expired entry")
	}
	now = t0
	c.Put("b", 1, g, now, time.Time{})
	c.Invalidate()
	if c.Update("b", 2, g, now) {
		t.Error("Update of an invalidated entry")
	}
	if c.Update("missing", 1, c.Gen(), now) {
		t.Error("Update created an entry")
	}
}

func TestZeroTTLCachesNothing(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c := &Cache[string, int]{Now: func() time.Time { return now }}
	c.Put("a", 1, c.Gen(), now, time.Time{})
	if _, ok := c.Get("a", c.Gen(), now); ok || c.Len() != 0 {
		t.Fatalf("TTL 0 kept an entry (Len %d)", c.Len())
	}
}
