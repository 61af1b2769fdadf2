// Package accesstoken makes tolk's opaque access tokens self-contained
// (issue 20): a token carries what verifying it needs, sealed with an AEAD
// under a key only tolk holds, so issuing one writes no row. Clients can
// neither read nor forge it: it stays as opaque as a random string, and it
// keeps the tolk_at_ prefix and checksum that secret scanners look for.
//
// Revocation stays exact without a row per token: the store keeps cutoffs
// (store.Cutoff) by token id, grant, app, user and authorization, and a
// token is valid only while none of them covers it (Claims.Keys,
// Claims.GrantTime).
package accesstoken

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// IDLen is the length of a token's random id.
const IDLen = 16

// Claims are what a sealed access token says.
type Claims struct {
	ID        [IDLen]byte // random; what revoking one token cuts
	ClientID  string
	UserUID   string // "" for client_credentials
	OrgUID    string
	GrantID   string // a StampedHex id: its stamp is when the grant began
	Scopes    []string
	Audiences []string
	AuthTime  time.Time // zero without a user
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// IDString is the token id as lowercase hex, its name in cutoffs.
func (c *Claims) IDString() string { return hex.EncodeToString(c.ID[:]) }

// GrantTime is when the token's grant began, read from the grant id's
// stamp: a cutoff by app, user or authorization covers every token of the
// grants that began before it, including those a rotation in flight issues
// afterwards from an old grant. A grant id without a stamp counts as the
// oldest, so every such cutoff covers it.
func (c *Claims) GrantTime() time.Time {
	t, _ := secret.StampTime(c.GrantID)
	return t
}

// Keys are the cutoff keys of the token.
func (c *Claims) Keys() store.CutoffKeys {
	k := store.CutoffKeys{
		Token:  store.TokenCutoffKey(c.IDString()),
		Grant:  store.GrantCutoffKey(c.GrantID),
		Client: store.ClientCutoffKey(c.ClientID),
	}
	if c.UserUID != "" {
		k.User = store.UserCutoffKey(c.UserUID)
		k.Authorization = store.AuthorizationCutoffKey(c.UserUID, c.ClientID)
	}
	return k
}

// Limits of the encoding: a token far larger than any real one is refused
// before it costs anything.
const (
	formatV1    = 1
	maxString   = 512
	maxList     = 64
	maxClaimLen = 8 << 10
)

var errFormat = errors.New("accesstoken: malformed claims")

// appendClaims writes c in a compact binary form: times as milliseconds,
// strings length-prefixed, a canonical UUID (the user and organization
// ids) in 16 bytes.
func appendClaims(b []byte, c *Claims) ([]byte, error) {
	b = append(b, formatV1)
	b = append(b, c.ID[:]...)
	iat := c.IssuedAt.UnixMilli()
	exp := c.ExpiresAt.UnixMilli()
	if iat < 0 || exp < iat {
		return nil, errors.New("accesstoken: expiry before issue")
	}
	b = binary.AppendUvarint(b, uint64(iat))
	b = binary.AppendUvarint(b, uint64(exp-iat))
	var auth uint64
	if !c.AuthTime.IsZero() {
		if c.AuthTime.UnixMilli() < 0 {
			return nil, errors.New("accesstoken: auth time before 1970")
		}
		auth = uint64(c.AuthTime.UnixMilli()) + 1 // 0 is "none"
	}
	b = binary.AppendUvarint(b, auth)
	for _, s := range [...]string{c.ClientID, c.UserUID, c.OrgUID, c.GrantID} {
		var err error
		if b, err = appendString(b, s); err != nil {
			return nil, err
		}
	}
	for _, l := range [...][]string{c.Scopes, c.Audiences} {
		if len(l) > maxList {
			return nil, errors.New("accesstoken: list too long")
		}
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			var err error
			if b, err = appendString(b, s); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// String forms: a tag byte, then the value.
const (
	tagBytes = 0 // uvarint length, bytes
	tagUUID  = 1 // 16 bytes of a canonical lowercase UUID
)

func appendString(b []byte, s string) ([]byte, error) {
	if len(s) > maxString {
		return nil, errors.New("accesstoken: string too long")
	}
	if u, ok := parseUUID(s); ok {
		b = append(b, tagUUID)
		return append(b, u[:]...), nil
	}
	b = append(b, tagBytes)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...), nil
}

// parseClaims reads what appendClaims wrote, and nothing else: every
// length is bounded and nothing may follow.
func parseClaims(b []byte) (Claims, error) {
	var c Claims
	if len(b) > maxClaimLen || len(b) < 1+IDLen || b[0] != formatV1 {
		return c, errFormat
	}
	copy(c.ID[:], b[1:1+IDLen])
	r := reader{b: b[1+IDLen:]}
	iat := r.uvarint(1 << 53)
	ttl := r.uvarint(1 << 53)
	auth := r.uvarint(1 << 53)
	c.IssuedAt = time.UnixMilli(int64(iat)).UTC()
	c.ExpiresAt = time.UnixMilli(int64(iat + ttl)).UTC()
	if auth > 0 {
		c.AuthTime = time.UnixMilli(int64(auth - 1)).UTC()
	}
	c.ClientID, c.UserUID, c.OrgUID, c.GrantID = r.string(), r.string(), r.string(), r.string()
	c.Scopes, c.Audiences = r.list(), r.list()
	if r.err || len(r.b) != 0 {
		return Claims{}, errFormat
	}
	return c, nil
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) uvarint(max uint64) uint64 {
	v, n := binary.Uvarint(r.b)
	// Only the shortest form: one encoding per value.
	if n <= 0 || v > max || n != uvarintLen(v) {
		r.err = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (r *reader) string() string {
	if r.err || len(r.b) == 0 {
		r.err = true
		return ""
	}
	tag := r.b[0]
	r.b = r.b[1:]
	switch tag {
	case tagUUID:
		if len(r.b) < 16 {
			r.err = true
			return ""
		}
		s := formatUUID(r.b[:16])
		r.b = r.b[16:]
		return s
	case tagBytes:
		n := r.uvarint(maxString)
		if r.err || uint64(len(r.b)) < n {
			r.err = true
			return ""
		}
		if _, ok := parseUUID(string(r.b[:n])); ok {
			r.err = true // a UUID has its own, shorter form
			return ""
		}
		s := string(r.b[:n])
		r.b = r.b[n:]
		return s
	}
	r.err = true
	return ""
}

func (r *reader) list() []string {
	n := r.uvarint(maxList)
	if r.err || n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string())
	}
	return out
}

// parseUUID reads a canonical lowercase UUID (8-4-4-4-12 hex digits); any
// other form is kept as bytes, so a round trip never changes a string.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func formatUUID(u []byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// minCutoffLife is the shortest a cutoff is kept. Cutoffs are one row
// per revocation, not per token, so keeping them a day costs nothing.
const minCutoffLife = 24 * time.Hour

// cutoffMargin keeps a cutoff a little past the last expiry it covers, so
// that the clocks of the instance that sweeps and the one that verifies
// need not agree to the second.
const cutoffMargin = 5 * time.Minute

// MaxLifetime is the longest a token may live to be accepted under
// access_token_ttl accessTTL: what a cutoff covers after it is made. A
// token sealed to live longer (under a longer access_token_ttl, before a
// restart with a shorter one) is refused rather than left to outlive the
// cutoffs that would revoke it.
func MaxLifetime(accessTTL time.Duration) time.Duration { return max(accessTTL, minCutoffLife) }

// Cutoff revokes the self-contained access tokens under key whose grant
// began at or before notBefore, kept until every token issued up to then
// has expired (accessTTL: the tokens' lifetime).
func Cutoff(key string, notBefore time.Time, accessTTL time.Duration) store.Cutoff {
	return store.Cutoff{Key: key, NotBefore: notBefore, ExpiresAt: notBefore.Add(MaxLifetime(accessTTL) + cutoffMargin)}
}

// TokenCutoff revokes the one token c (RFC 7009) until it expires.
func TokenCutoff(c *Claims) store.Cutoff {
	return store.Cutoff{Key: store.TokenCutoffKey(c.IDString()), NotBefore: c.ExpiresAt, ExpiresAt: c.ExpiresAt.Add(cutoffMargin)}
}
