// Package oauth holds OAuth 2.0 and OpenID Connect wire vocabulary that has
// no behaviour of its own: grant and response types, protocol errors,
// scope strings, redirect URI matching, PKCE, client credentials parsing
// and the id_token hash claims. The server's behaviour lives in authz.
package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantImplicit          = "implicit"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Error is an OAuth protocol error (RFC 6749 §4.1.2.1, §5.2). Status is
// the HTTP status when it is answered directly.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Status      int    `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func newErr(code string, status int) func(string) *Error {
	return func(desc string) *Error { return &Error{Code: code, Description: desc, Status: status} }
}

// Constructors for the registered error codes.
var (
	ErrInvalidRequest          = newErr("invalid_request", http.StatusBadRequest)
	ErrInvalidClient           = newErr("invalid_client", http.StatusUnauthorized)
	ErrInvalidGrant            = newErr("invalid_grant", http.StatusBadRequest)
	ErrUnauthorizedClient      = newErr("unauthorized_client", http.StatusBadRequest)
	ErrUnsupportedGrantType    = newErr("unsupported_grant_type", http.StatusBadRequest)
	ErrInvalidScope            = newErr("invalid_scope", http.StatusBadRequest)
	ErrInvalidTarget           = newErr("invalid_target", http.StatusBadRequest)
	ErrAccessDenied            = newErr("access_denied", http.StatusForbidden)
	ErrUnsupportedResponseType = newErr("unsupported_response_type", http.StatusBadRequest)
	ErrServerError             = newErr("server_error", http.StatusInternalServerError)
	ErrLoginRequired           = newErr("login_required", http.StatusBadRequest)
	ErrConsentRequired         = newErr("consent_required", http.StatusBadRequest)
	ErrInteractionRequired     = newErr("interaction_required", http.StatusBadRequest)
	ErrInvalidToken            = newErr("invalid_token", http.StatusUnauthorized)
	ErrInsufficientScope       = newErr("insufficient_scope", http.StatusForbidden)
	ErrUnsupportedTokenType    = newErr("unsupported_token_type", http.StatusBadRequest)
	ErrRequestNotSupported     = newErr("request_not_supported", http.StatusBadRequest)     // OIDC Core §3.1.2.6
	ErrRequestURINotSupported  = newErr("request_uri_not_supported", http.StatusBadRequest) // OIDC Core §3.1.2.6
)

// AsError returns err as an *Error, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// ParseScope splits a scope parameter (RFC 6749 §3.3) into distinct
// tokens, sorted, so that order never matters. It reports false for
// characters outside the allowed set.
func ParseScope(s string) ([]string, bool) {
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, false
			}
		}
		out = append(out, tok)
	}
	sort.Strings(out)
	return slices.Compact(out), true
}

// JoinScope is the inverse of ParseScope.
func JoinScope(s []string) string { return strings.Join(s, " ") }

// Subset reports whether every element of a is in b.
func Subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// MatchRedirectURI reports whether given equals one of the registered URIs
// by exact string comparison (RFC 9700 §4.1.3). The single exception is
// the port of a loopback IP redirect (RFC 8252 §7.3), which native apps
// choose at run time.
func MatchRedirectURI(registered []string, given string) bool {
	for _, r := range registered {
		if r == given {
			return true
		}
	}
	g, err := url.Parse(given)
	if err != nil || g.Scheme != "http" || !isLoopbackIP(g.Hostname()) || g.User != nil || strings.Contains(given, "#") {
		return false
	}
	for _, r := range registered {
		ru, err := url.Parse(r)
		// Only the port may differ: no userinfo or fragment on either
		// side, and "?" with an empty query is not the same as none.
		if err != nil || ru.Scheme != "http" || !isLoopbackIP(ru.Hostname()) || ru.User != nil || strings.Contains(r, "#") || ru.ForceQuery != g.ForceQuery {
			continue
		}
		if ru.Hostname() == g.Hostname() && ru.EscapedPath() == g.EscapedPath() && ru.RawQuery == g.RawQuery && g.Port() != "" {
			return true
		}
	}
	return false
}

func isLoopbackIP(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// ValidRedirectURI reports whether u may be registered: absolute, no
// fragment, no credentials; https, or http only on loopback; private-use
// schemes (com.example.app:/cb) for native apps.
func ValidRedirectURI(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Fragment != "" || p.User != nil || strings.ContainsAny(u, " \t\r\n") {
		return false
	}
	switch p.Scheme {
	case "https":
		return p.Host != ""
	case "http":
		return p.Host != "" && (isLoopbackIP(p.Hostname()) || p.Hostname() == "localhost")
	case "javascript", "data", "file", "vbscript":
		return false
	default:
		// A private-use URI scheme must contain a period (RFC 8252 §7.1).
		return strings.Contains(p.Scheme, ".")
	}
}

// ValidVerifier checks a PKCE code_verifier: 43–128 characters of
// [A-Z a-z 0-9 - . _ ~] (RFC 7636 §4.1).
func ValidVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// S256 is the PKCE S256 challenge of a verifier.
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyPKCE compares the S256 of verifier with challenge in constant time.
func VerifyPKCE(verifier, challenge string) bool {
	return subtle.ConstantTimeCompare([]byte(S256(verifier)), []byte(challenge)) == 1
}

// HalfHash is the at_hash / c_hash of OIDC Core §3.3.2.11 for SHA-256
// based algorithms (RS256, ES256): the base64url of the left half of the
// SHA-256 of the ASCII value.
func HalfHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// ClientCredentials extracts client authentication from a token-endpoint
// request whose form is parsed: HTTP Basic (client_secret_basic) or the
// body (client_secret_post, or none with only client_id). Basic values are
// form-urlencoded per RFC 6749 §2.3.1, so they are decoded (clients such as
// golang.org/x/oauth2 encode them). Both methods at once is an error.
func ClientCredentials(r *http.Request) (id, secret, method string, err error) {
	bid, bsecret, hasBasic := basicAuth(r)
	pid, psecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if hasBasic {
		if psecret != "" {
			return "", "", "", ErrInvalidRequest("client authentication must use one method only")
		}
		if id, err = url.QueryUnescape(bid); err != nil {
			return "", "", "", ErrInvalidClient("malformed Basic credentials")
		}
		if secret, err = url.QueryUnescape(bsecret); err != nil {
			return "", "", "", ErrInvalidClient("malformed Basic credentials")
		}
		if pid != "" && pid != id {
			return "", "", "", ErrInvalidRequest("client_id in the body differs from the authenticated client")
		}
		return id, secret, "client_secret_basic", nil
	}
	if r.Header.Get("Authorization") != "" {
		return "", "", "", ErrInvalidClient("unsupported client authentication scheme")
	}
	if psecret != "" {
		return pid, psecret, "client_secret_post", nil
	}
	return pid, "", "none", nil
}

// basicAuth is r.BasicAuth with one allocation instead of two: the
// credentials are decoded into a stack buffer and copied once into the
// string that id and secret are cut from, where net/http decodes into a
// new slice and then copies it. Credentials longer than the buffer go to
// r.BasicAuth. FuzzBasicAuthMatchesStdlib compares the two.
func basicAuth(r *http.Request) (username, password string, ok bool) {
	auth := r.Header.Get("Authorization")
	const prefix = "Basic "
	if len(auth) < len(prefix) || !asciiEqualFold(auth[:len(prefix)], prefix) {
		return "", "", false
	}
	var src [512]byte
	var dst [384]byte // base64.StdEncoding.DecodedLen(512)
	enc := auth[len(prefix):]
	if len(enc) > len(src) {
		return r.BasicAuth()
	}
	n, err := base64.StdEncoding.Decode(dst[:], src[:copy(src[:], enc)])
	if err != nil {
		return "", "", false
	}
	username, password, ok = strings.Cut(string(dst[:n]), ":")
	if !ok {
		return "", "", false
	}
	return username, password, true
}

// asciiEqualFold is net/http's case-insensitive match of the scheme:
// ASCII letters only.
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// SingleValues rejects a form in which a parameter occurs more than once
// (RFC 6749 §3.1, §3.2).
func SingleValues(v url.Values) error {
	for k, vs := range v {
		if len(vs) > 1 {
			return ErrInvalidRequest("parameter " + k + " must not be repeated")
		}
	}
	return nil
}
