package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// fetchTimeout bounds one JWKS fetch. A fetch belongs to no request (see
// jwks), so it needs a deadline of its own.
const fetchTimeout = 10 * time.Second

// jwks is the issuer's key set, fetched on first use and again when a token
// names a kid it lacks, or in the background once it is older than maxAge.
//
// A fetch runs apart from the request that caused it, on a context of its
// own, one at a time: requests that need keys wait for the fetch in flight
// (each until its own context ends), and a client that goes away cancels
// only its own wait, never the fetch others wait for.
//
// An unknown kid makes a new fetch only when the keys are at least minAge
// old, so forged kids cost the issuer at most one fetch per minAge and
// cannot use up anything a genuine kid needs: an issuer that publishes a
// key before it signs with it (tolk: key_publish_delay) has it
// in every key set fetched after that, and a key set older than minAge is
// fetched again. A failed fetch is retried minAge after it began.
type jwks struct {
	url    string
	client *http.Client
	now    func() time.Time
	maxAge time.Duration
	minAge time.Duration

	mu        sync.Mutex
	keys      map[string]jose.JSONWebKey // nil until a fetch succeeds
	fetched   time.Time                  // when the fetch that got keys began
	attempted time.Time                  // when the last fetch began
	failed    bool                       // whether the last fetch failed
	flight    *flight                    // the fetch running now, if any
	flights   int                        // fetches begun so far
}

// flight is one fetch; err is set before done is closed.
type flight struct {
	seq  int
	done chan struct{}
	err  error
}

// key returns the key named kid.
func (j *jwks) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	j.mu.Lock()
	before := j.flights // a flight with a higher seq began after this request
	j.mu.Unlock()
	var waited *flight
	for {
		j.mu.Lock()
		now := j.now()
		if k, ok := j.keys[kid]; ok {
			if now.Sub(j.fetched) >= j.maxAge && j.flight == nil && now.Sub(j.attempted) >= j.minAge {
				j.start(now) // the cached key serves meanwhile
			}
			j.mu.Unlock()
			return k, nil
		}
		f, err := j.flightFor(now, waited, before)
		j.mu.Unlock()
		if err != nil {
			return jose.JSONWebKey{}, err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return jose.JSONWebKey{}, fmt.Errorf("%w: JWKS: %v", ErrUnavailable, ctx.Err())
		}
		waited = f
	}
}

// flightFor returns the fetch a request for an unknown kid waits for next,
// starting one if it may, or the request's answer. waited is the fetch it
// waited for last (nil at first); before is how many had begun when the
// request came. Called with mu held.
func (j *jwks) flightFor(now time.Time, waited *flight, before int) (*flight, error) {
	switch {
	case waited != nil && waited.err != nil:
		return nil, fmt.Errorf("%w: JWKS: %v", ErrUnavailable, waited.err)
	case waited != nil && waited.seq > before:
		return nil, fmt.Errorf("%w: unknown key id", ErrInvalid) // fetched after the request came
	case j.flight != nil:
		return j.flight, nil
	case j.keys != nil && now.Sub(j.fetched) < j.minAge:
		return nil, fmt.Errorf("%w: unknown key id", ErrInvalid)
	case j.failed && now.Sub(j.attempted) < j.minAge:
		return nil, fmt.Errorf("%w: JWKS not available", ErrUnavailable)
	}
	return j.start(now), nil
}

// start begins a fetch. Called with mu held.
func (j *jwks) start(now time.Time) *flight {
	j.flights++
	f := &flight{seq: j.flights, done: make(chan struct{})}
	j.flight, j.attempted = f, now
	go j.run(f, now)
	return f
}

func (j *jwks) run(f *flight, began time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	keys, err := j.fetch(ctx)
	cancel()
	j.mu.Lock()
	if err == nil {
		j.keys, j.fetched = keys, began
	}
	j.failed, f.err, j.flight = err != nil, err, nil
	j.mu.Unlock()
	close(f.done)
}

func (j *jwks) fetch(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, err
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.Valid() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys[k.KeyID] = k.Public()
	}
	return keys, nil
}
