package identity

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/store"
)

// The sessions page (SPEC §8): a user's web sessions, with the device and
// address they come from and when they were last seen, and their
// ApiTokens, with when each was last used; each can be ended alone, or
// every one at once.

// SeenEvery bounds how often a web session's last-seen time and an
// ApiToken's last-used time are written: at most once per SeenEvery per
// session or token, so that a busy browser or script costs no write per
// request. What the sessions page shows is at most this much behind.
const SeenEvery = time.Minute

// ListLimit is how many web sessions, and how many ApiTokens, the sessions
// page lists (the most recent); it says how many there are in all.
const ListLimit = 100

// maxUserAgent bounds the User-Agent kept per session, in bytes.
const maxUserAgent = 256

// ErrSessionNotFound: no such web session or ApiToken of this user (or
// one that is not the user's, which is not told apart).
var ErrSessionNotFound = errors.New("identity: no such session")

// Device is where a web request comes from: the client address (as
// resolved behind trusted proxies) and the browser's User-Agent header.
type Device struct {
	Address   string
	UserAgent string
}

// clean makes d storable on every backend and bounded: valid UTF-8
// without control characters, the User-Agent clipped.
func (d Device) clean() Device {
	return Device{Address: printable(d.Address, 64), UserAgent: printable(d.UserAgent, maxUserAgent)}
}

func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// BrowserAndSystem reads a short, readable form of a User-Agent: the
// browser's and the operating system's names ("Chrome", "Linux"), each ""
// when it names none tolk knows. It is a few substring checks, in the
// order that tells look-alikes apart (Edge and Opera say Chrome too,
// Chrome says Safari, Android says Linux), not a full parser.
func BrowserAndSystem(ua string) (browser, system string) {
	has := func(s string) bool { return strings.Contains(ua, s) }
	switch {
	case has("Edg/") || has("Edge/"):
		browser = "Edge"
	case has("OPR/") || has("Opera"):
		browser = "Opera"
	case has("Firefox/") || has("FxiOS/"):
		browser = "Firefox"
	case has("Chromium/"):
		browser = "Chromium"
	case has("Chrome/") || has("CriOS/"):
		browser = "Chrome"
	case has("Safari/"):
		browser = "Safari"
	case strings.HasPrefix(ua, "curl/"):
		browser = "curl"
	}
	switch {
	case has("Windows"):
		system = "Windows"
	case has("Android"):
		system = "Android"
	case has("iPhone") || has("iPad") || has("iPod"):
		system = "iOS"
	case has("CrOS"):
		system = "ChromeOS"
	case has("Macintosh") || has("Mac OS X"):
		system = "macOS"
	case has("Linux"):
		system = "Linux"
	}
	return browser, system
}

// seen records, at most once per SeenEvery, that ws was used from d.
// Best effort: failing to record it must not fail the request.
func (s *Service) seen(ctx context.Context, ws store.WebSession, d Device) {
	last := ws.LastSeenAt
	if last.IsZero() {
		last = ws.CreatedAt
	}
	now := s.now()
	if now.Sub(last) < SeenEvery {
		return
	}
	d = d.clean()
	_ = s.Store.TouchWebSession(ctx, ws.Hash, now, d.Address, d.UserAgent)
}

// used records, at most once per SeenEvery, that ApiToken t was used.
func (s *Service) used(ctx context.Context, t store.APIToken) {
	now := s.now()
	if !t.LastUsedAt.IsZero() && now.Sub(t.LastUsedAt) < SeenEvery {
		return
	}
	_ = s.Store.TouchAPIToken(ctx, t.Hash, now)
}

// WebSessionInfo is one web session as the sessions page shows it. ID
// names it in forms: the hex SHA-256 of its cookie, which opens nothing.
type WebSessionInfo struct {
	ID        string
	Browser   string // "" if unknown (BrowserAndSystem)
	System    string // "" if unknown
	UserAgent string
	Address   string
	SignedIn  time.Time
	LastSeen  time.Time
	Current   bool // the session asking
}

// APITokenInfo is one ApiToken as the sessions page shows it; ID is the
// hex SHA-256 of the token.
type APITokenInfo struct {
	ID       string
	Created  time.Time
	Expires  time.Time
	LastUsed time.Time // zero: never
}

// SessionList is what the sessions page lists: at most ListLimit of each
// kind, most recent first, and how many there are.
type SessionList struct {
	Web       []WebSessionInfo
	WebTotal  int
	APITokens []APITokenInfo
	APITotal  int
}

// Sessions lists u's live web sessions and ApiTokens; current is the
// session asking, marked Current.
func (s *Service) Sessions(ctx context.Context, u store.User, current store.WebSession) (SessionList, error) {
	now := s.now()
	web, webTotal, err := s.Store.ListWebSessions(ctx, u.UID, now, ListLimit)
	if err != nil {
		return SessionList{}, err
	}
	toks, apiTotal, err := s.Store.ListAPITokens(ctx, u.UID, now, ListLimit)
	if err != nil {
		return SessionList{}, err
	}
	l := SessionList{WebTotal: webTotal, APITotal: apiTotal}
	for _, ws := range web {
		b, sys := BrowserAndSystem(ws.UserAgent)
		seen := ws.LastSeenAt
		if seen.IsZero() {
			seen = ws.CreatedAt
		}
		l.Web = append(l.Web, WebSessionInfo{ID: ws.Hash, Browser: b, System: sys, UserAgent: ws.UserAgent,
			Address: ws.Address, SignedIn: ws.CreatedAt, LastSeen: seen, Current: ws.Hash == current.Hash})
	}
	for _, t := range toks {
		l.APITokens = append(l.APITokens, APITokenInfo{ID: t.Hash, Created: t.CreatedAt, Expires: t.ExpiresAt, LastUsed: t.LastUsedAt})
	}
	return l, nil
}

// validHashID rejects what cannot be a hex SHA-256 before it reaches the
// store.
func validHashID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// RevokeSession ends u's web session id at once: its next request is
// refused on every instance (web sessions are read from the store on
// every request, never cached). Another user's session, or an unknown
// one, is ErrSessionNotFound and nothing changes.
func (s *Service) RevokeSession(ctx context.Context, u store.User, id string) error {
	if !validHashID(id) {
		return ErrSessionNotFound
	}
	ok, err := s.Store.DeleteUserWebSession(ctx, u.UID, id)
	if err != nil {
		return err
	}
	if !ok {
		return ErrSessionNotFound
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.SessionRevoked, ActorUID: u.UID, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"session_id": id[:12]}})
	return nil
}

// RevokeAPITokenOf ends u's ApiToken id at once; as RevokeSession
// otherwise. The caches of verifications forget it here, and on other
// instances within their bound.
func (s *Service) RevokeAPITokenOf(ctx context.Context, u store.User, id string) error {
	if !validHashID(id) {
		return ErrSessionNotFound
	}
	defer s.Revocations.Revoked()
	ok, err := s.Store.DeleteUserAPIToken(ctx, u.UID, id)
	if err != nil {
		return err
	}
	if !ok {
		return ErrSessionNotFound
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.APITokenRevoked, ActorUID: u.UID, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"token_id": id[:12]}})
	return nil
}

// SignOutEverywhere ends every web session of u (the one asking too) and
// every ApiToken, as a web sign-out does; personal access tokens and API
// keys stay (they serve scripts) and are revoked one by one.
func (s *Service) SignOutEverywhere(ctx context.Context, u store.User) error {
	defer s.Revocations.Revoked()
	if err := s.Store.SignOutUser(ctx, u.UID, s.now()); err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.SignedOutEverywhere, ActorUID: u.UID, SubjectUID: u.UID, OrgUID: u.OrgUID})
	return nil
}
