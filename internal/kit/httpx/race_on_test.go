//go:build race

package httpx_test

// raceEnabled: the race detector's sync.Pool drops some of what is put
// in it, so allocation counts are not pinned under it.
const raceEnabled = true
