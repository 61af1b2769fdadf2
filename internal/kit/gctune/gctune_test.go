package gctune

import (
	"runtime/debug"
	"testing"
)

// current reads the collector's target without changing it.
func current() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestApply(t *testing.T) {
	orig := current()
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	env := func(gogc string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return gogc
			}
			return ""
		}
	}
	for _, c := range []struct {
		name    string
		percent int
		gogc    string
		applied bool
	}{
		{"default target", 200, "", true},
		{"GOGC in the environment wins", 200, "150", false},
		{"GOGC=off wins too", 200, "off", false},
		{"0 leaves the runtime's default", 0, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			debug.SetGCPercent(123)
			if got := Apply(c.percent, env(c.gogc)); got != c.applied {
				t.Fatalf("Apply = %v, want %v", got, c.applied)
			}
			want := 123
			if c.applied {
				want = c.percent
			}
			if got := current(); got != want {
				t.Errorf("GC percent %d, want %d", got, want)
			}
		})
	}
}
