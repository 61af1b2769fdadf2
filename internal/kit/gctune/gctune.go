// Package gctune sets the garbage collector's target of a tolk process.
//
// tolk's live heap is small and every request allocates, so with Go's
// default target (GOGC=100: collect when the heap has doubled) the
// collector runs very often under load; a higher target trades a few MiB
// of heap for that CPU (docs/performance.md, "Why the code is as it is").
// It is a process-wide setting, so the command that owns the process
// applies it, not the server package.
package gctune

import "runtime/debug"

// Apply sets the collector's target to percent (as GOGC=percent would)
// and reports whether it did. GOGC in the environment wins, as it does for
// any Go program; percent 0 leaves the runtime's default.
func Apply(percent int, getenv func(string) string) bool {
	if percent <= 0 || getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(percent)
	return true
}
