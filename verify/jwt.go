package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

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
	if h.Alg != string(jose.RS256) && h.Alg != string(jose.ES256) && h.Alg != string(jose.EdDSA) {
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
	case ed25519.PublicKey:
		// RFC 8037: kty OKP, crv Ed25519 (go-jose refuses other curves).
		return alg == string(jose.EdDSA) && len(pub) == ed25519.PublicKeySize
	}
	return false
}
