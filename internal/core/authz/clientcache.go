package authz

import (
	"context"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// clientCache holds recently authenticated clients, so the token,
// introspection and revocation endpoints need no database read to
// authenticate a client on every request. Changes made through this
// Service invalidate at once; changes made by another instance are seen
// within ttl (the same bound as every other cross-instance cache).
type clientCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedClient
	// gen counts forgets. A read that began before one must not store
	// what it read: it may be the row a rotation or deletion just
	// replaced, and it would then be served for ttl after the change.
	gen uint64
}

type cachedClient struct {
	c  store.Client
	at time.Time
}

// maxCachedClients bounds memory: a spray of unknown ids is never cached,
// but many real clients could be.
const maxCachedClients = 10_000

func (s *Service) cachedClient(ctx context.Context, id string) (store.Client, error) {
	cc := &s.clients
	now := s.Now()
	var gen uint64
	if cc.ttl > 0 {
		cc.mu.Lock()
		e, ok := cc.m[id]
		gen = cc.gen
		cc.mu.Unlock()
		if ok && now.Sub(e.at) < cc.ttl && now.Sub(e.at) >= 0 {
			return e.c, nil
		}
	}
	c, err := s.getClient(ctx, id)
	if err != nil || cc.ttl <= 0 {
		return c, err
	}
	cc.mu.Lock()
	if cc.gen != gen { // changed while we read: do not keep what we read
		cc.mu.Unlock()
		return c, nil
	}
	if cc.m == nil || len(cc.m) >= maxCachedClients {
		cc.m = map[string]cachedClient{}
	}
	cc.m[id] = cachedClient{c: c, at: now}
	cc.mu.Unlock()
	return c, nil
}

func (s *Service) forgetClient(id string) {
	s.clients.mu.Lock()
	delete(s.clients.m, id)
	s.clients.gen++
	s.clients.mu.Unlock()
}
