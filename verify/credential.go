package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// Credential is the one credential a request carries, as CredentialReader
// reads it (see Credentials in the package documentation).
type Credential struct {
	Method Method // the dialect it came in
	Value  string // the token, key or personal access token itself
	// header and line are the header that carried it and that header's
	// value, which is what VerifyURL is sent; line is "" for a ?token=,
	// which is sent as an ApiToken.
	header, line string
}

// wire returns the header name and value that present c to VerifyURL.
func (c Credential) wire() (header, line string) {
	if c.line == "" {
		return "Authorization", "ApiToken " + c.Value
	}
	return c.header, c.line
}

// key is the SHA-256 of what presents c, by which answers are cached.
func (c Credential) key() [32]byte {
	header, line := c.wire()
	return sha256.Sum256([]byte(header + "\x00" + line))
}

// DefaultAPIKeyHeader is the ProZ API-key header.
const DefaultAPIKeyHeader = "X-Proz-API-Key"

// CredentialReader reads the credential of a request. The zero value reads
// DefaultAPIKeyHeader and no ?token=.
type CredentialReader struct {
	// APIKeyHeader is the ProZ API-key header (default
	// DefaultAPIKeyHeader). In canonical form (http.CanonicalHeaderKey) it
	// costs no allocation per request.
	APIKeyHeader string
	// QueryToken accepts the TMS ?token= query parameter.
	QueryToken bool
}

// Read returns r's credential: the API-key header, else the Authorization
// header, else (with QueryToken) ?token=. An error wraps ErrNoCredentials
// or ErrInvalid (a malformed Authorization header).
func (cr CredentialReader) Read(r *http.Request) (Credential, error) {
	header := cr.APIKeyHeader
	if header == "" {
		header = "X-Proz-Api-Key" // DefaultAPIKeyHeader, canonical
	}
	if k := r.Header.Get(header); k != "" {
		return Credential{Method: MethodAPIKey, Value: k, header: header, line: k}, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		return ParseAuthorization(h)
	}
	if cr.QueryToken {
		if t := r.URL.Query().Get("token"); t != "" {
			return Credential{Method: MethodAPIToken, Value: t}, nil
		}
	}
	return Credential{}, ErrNoCredentials
}

// ParseAuthorization reads an Authorization header of any dialect. Schemes
// are case-insensitive (RFC 9110 §11.1), in ASCII only: Unicode folding
// would let "to\u212Aen" (with a Kelvin sign) pass for "token". An error
// wraps ErrInvalid.
func ParseAuthorization(h string) (Credential, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	rest = strings.TrimSpace(rest)
	if !ok || rest == "" {
		return Credential{}, fmt.Errorf("%w: malformed Authorization header", ErrInvalid)
	}
	c := Credential{Value: rest, header: "Authorization", line: h}
	switch {
	case equalFoldASCII(scheme, "apitoken"):
		c.Method = MethodAPIToken
	case equalFoldASCII(scheme, "token"):
		c.Method = MethodPAT
	case equalFoldASCII(scheme, "bearer"):
		switch {
		case IsPAT(rest): // Strings accepts its PATs as bearer tokens too
			c.Method = MethodPAT
		case strings.Count(rest, ".") == 2:
			c.Method = MethodJWT
		default:
			c.Method = MethodBearer
		}
	case equalFoldASCII(scheme, "basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Credential{}, fmt.Errorf("%w: malformed Basic credentials", ErrInvalid)
		}
		// Strings: a PAT as the user name with an empty password. Basic
		// with a password is a password login, which only Strings'
		// Authorizations API accepts.
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok || pass != "" || !IsPAT(user) {
			return Credential{}, fmt.Errorf("%w: Basic credentials are not a personal access token", ErrInvalid)
		}
		c.Method, c.Value = MethodPAT, user
	default:
		return Credential{}, fmt.Errorf("%w: unsupported authorization scheme", ErrInvalid)
	}
	return c, nil
}

// equalFoldASCII reports whether s equals the lower-case ASCII word lower,
// ignoring the case of ASCII letters only.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// IsPAT reports whether s has the shape of a Strings personal access
// token: 64 lowercase hex characters (the Phrase CLI checks this shape).
func IsPAT(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
