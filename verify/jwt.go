package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"
)

// jwks is the issuer's key set, fetched lazily and refetched on an unknown
// kid or when older than maxAge, at most once per limiter token.
type jwks struct {
	url    string
	client *http.Client
	now    func() time.Time
	maxAge time.Duration
	limit  *rate.Limiter

	mu      sync.RWMutex
	keys    map[string]jose.JSONWebKey
	fetched time.Time

	fetchMu sync.Mutex
	fetches int // how many fetches were attempted (tests)
}

func (j *jwks) lookup(kid string) (jose.JSONWebKey, bool, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	k, ok := j.keys[kid]
	fresh := j.keys != nil && j.now().Sub(j.fetched) < j.maxAge
	return k, ok, fresh
}

// key returns the key named kid.
func (j *jwks) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	if k, ok, fresh := j.lookup(kid); ok && fresh {
		return k, nil
	}
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	k, ok, fresh := j.lookup(kid) // another request may have fetched meanwhile
	if ok && fresh {
		return k, nil
	}
	if !j.limit.AllowN(j.now(), 1) {
		if ok {
			return k, nil // stale, but the issuer was asked recently
		}
		if j.loaded() {
			return jose.JSONWebKey{}, fmt.Errorf("%w: unknown key id", ErrInvalid)
		}
		return jose.JSONWebKey{}, fmt.Errorf("%w: JWKS not available", ErrUnavailable)
	}
	if err := j.fetch(ctx); err != nil {
		if ok {
			return k, nil
		}
		return jose.JSONWebKey{}, fmt.Errorf("%w: JWKS: %v", ErrUnavailable, err)
	}
	if k, ok, _ := j.lookup(kid); ok {
		return k, nil
	}
	return jose.JSONWebKey{}, fmt.Errorf("%w: unknown key id", ErrInvalid)
}

func (j *jwks) loaded() bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.keys != nil
}

func (j *jwks) fetch(ctx context.Context) error {
	j.fetches++
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return err
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.Valid() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys[k.KeyID] = k.Public()
	}
	j.mu.Lock()
	j.keys, j.fetched = keys, j.now()
	j.mu.Unlock()
	return nil
}

// forbiddenHeaders make a JWT refer to keys other than the issuer's JWKS,
// or demand extensions this verifier does not implement.
var forbiddenHeaders = []string{"jku", "x5u", "jwk", "x5c", "crit"}

type jwtClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Expiry    *int64   `json:"exp"`
	NotBefore *int64   `json:"nbf"`
	ClientID  string   `json:"client_id"`
	Scope     *string  `json:"scope"`
	OrgUID    string   `json:"org_uid"`
}

// audience is a JWT aud: one string or an array.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

func invalidJWT(why string) error { return fmt.Errorf("%w: %s", ErrInvalid, why) }

// verifyJWT checks a JWT access token against the issuer's JWKS.
func (v *Verifier) verifyJWT(ctx context.Context, tok string) (Principal, error) {
	hdr, _, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 16<<10 {
		return Principal{}, invalidJWT("malformed JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return Principal{}, invalidJWT("malformed JWT header")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Principal{}, invalidJWT("malformed JWT header")
	}
	for _, f := range forbiddenHeaders {
		if _, ok := fields[f]; ok {
			return Principal{}, invalidJWT("JWT header names its own key or extensions")
		}
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return Principal{}, invalidJWT("malformed JWT header")
	}
	if h.Alg != string(jose.RS256) && h.Alg != string(jose.ES256) {
		return Principal{}, invalidJWT("algorithm not allowed")
	}
	if !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt") {
		return Principal{}, invalidJWT("not a JWT access token")
	}
	if h.Kid == "" {
		return Principal{}, invalidJWT("no key id")
	}
	key, err := v.keys.key(ctx, h.Kid)
	if err != nil {
		return Principal{}, err
	}
	if !keyFitsAlg(key, h.Alg) {
		return Principal{}, invalidJWT("algorithm does not match the key")
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(h.Alg)})
	if err != nil {
		return Principal{}, invalidJWT("malformed JWT")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return Principal{}, invalidJWT("bad signature")
	}
	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Principal{}, invalidJWT("malformed claims")
	}
	now := v.cfg.Now()
	switch {
	case c.Issuer != v.cfg.Issuer:
		return Principal{}, invalidJWT("wrong issuer")
	case c.Subject == "":
		return Principal{}, invalidJWT("no subject")
	case c.Expiry == nil || !now.Before(time.Unix(*c.Expiry, 0).Add(v.cfg.Leeway)):
		return Principal{}, invalidJWT("expired")
	case c.NotBefore != nil && now.Add(v.cfg.Leeway).Before(time.Unix(*c.NotBefore, 0)):
		return Principal{}, invalidJWT("not yet valid")
	}
	p := Principal{
		Subject: c.Subject, OrgUID: c.OrgUID, ClientID: c.ClientID,
		Audiences: []string(c.Audience), Method: MethodJWT, ExpiresAt: time.Unix(*c.Expiry, 0).UTC(),
	}
	if c.Audience == nil {
		p.Audiences = nil
	}
	if c.Subject != c.ClientID {
		p.UserUID = c.Subject
	}
	// A JWT is an OAuth or Platform token: it carries exactly the scopes
	// it names, so no scope claim is no scope (not nil, which would read
	// as an ApiToken's whole access).
	p.Scopes = []string{}
	if c.Scope != nil && *c.Scope != "" {
		p.Scopes = strings.Fields(*c.Scope)
	}
	return p, nil
}

// keyFitsAlg pins the algorithm to the key: the JWK's own alg when it has
// one, and its type and curve in any case.
func keyFitsAlg(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256) && pub.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && pub.Curve == elliptic.P256()
	}
	return false
}
