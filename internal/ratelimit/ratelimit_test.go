package ratelimit

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestFailuresThrottleAndRefill(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	f := NewFailures(3, time.Minute, c.now)
	for i := 0; i < 3; i++ {
		if ok, _ := f.Check("ana"); !ok {
			t.Fatalf("attempt %d refused within the burst", i)
		}
		f.Fail("ana")
	}
	ok, wait := f.Check("ana")
	if ok || wait != time.Minute {
		t.Fatalf("after burst: ok=%v wait=%v, want refused for 1m", ok, wait)
	}
	if ok, _ := f.Check("bob"); !ok {
		t.Fatal("another key is throttled too")
	}
	c.t = c.t.Add(30 * time.Second)
	if _, wait := f.Check("ana"); wait != 30*time.Second {
		t.Fatalf("wait = %v, want 30s", wait)
	}
	c.t = c.t.Add(30 * time.Second)
	if ok, _ := f.Check("ana"); !ok {
		t.Fatal("bucket did not refill")
	}
}

func TestSweepBoundsMemory(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	f := NewFailures(2, time.Second, c.now)
	f.maxKeys = 10
	for i := 0; i < 10; i++ {
		f.Fail(string(rune('a' + i)))
	}
	c.t = c.t.Add(time.Hour)
	f.Fail("new")
	if f.Len() != 1 {
		t.Fatalf("Len = %d after sweep, want 1", f.Len())
	}
}
