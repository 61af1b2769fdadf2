// Package revocation is how the domain says that credentials ended or
// changed. Each service operation that revokes — a logout, a deleted or
// narrowed token, a revoked key or grant, a deleted app, a deactivated
// user — calls Revoked once its store write has returned, and the server
// wires the Notifier to every cache of verifications (/auth/verify's,
// token exchange's subject tokens), which then forget what they hold.
// Nothing else empties them: an operation that only issues or reads
// leaves them alone.
package revocation

// Cache is a cache of verifications that can forget everything at once.
type Cache interface{ Invalidate() }

// Notifier tells the caches of this instance that credentials were
// revoked. A nil *Notifier does nothing, for services built without
// caches.
type Notifier struct{ caches []Cache }

// New returns a Notifier of caches.
func New(caches ...Cache) *Notifier { return &Notifier{caches: caches} }

// Revoked empties every cache. Call it after the store write, whatever
// its outcome: a verification that raced with the write then carries the
// caches' old generation and is never used, and one that starts later
// reads the store as written.
func (n *Notifier) Revoked() {
	if n == nil {
		return
	}
	for _, c := range n.caches {
		c.Invalidate()
	}
}
