// Package stringsapi serves the Strings Authorizations API (SPEC §3.3):
// /v2/authorizations, where a user manages personal access tokens with
// HTTP Basic username-or-email and password (plus X-PhraseApp-OTP under
// two-factor authentication). A personal access token cannot manage
// personal access tokens. Errors have Strings' shapes: {"message"} and,
// for validation, 422 {"message":"Validation Failed","errors":[…]}.
package stringsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/store"
)

// Pagination defaults of the Strings API.
const (
	DefaultPerPage = 25
	MaxPerPage     = 100
)

// OTPHeader carries the TOTP code of a user with two-factor authentication.
const OTPHeader = "X-PhraseApp-OTP"

// Handler serves /v2/authorizations.
type Handler struct {
	ID     *identity.Service
	PATs   *pat.Service
	Log    *slog.Logger
	Issuer string // public base URL, for Link headers
	Now    func() time.Time
	// Rate limit advertised in X-Rate-Limit-* (Strings: 1000 requests per
	// 5 minutes). Zero values take those defaults.
	Limit  int
	Window time.Duration
	// Requests, when set, counts the requests per user in a limiter
	// shared by every instance (limits.go) instead of the in-process
	// window.
	Requests ratelimit.Limiter

	once    sync.Once
	limiter *windowLimiter
}

// Authorization is the JSON of a token (Strings' "authorization").
type Authorization struct {
	ID             string   `json:"id"`
	Note           string   `json:"note"`
	TokenLastEight string   `json:"token_last_eight"`
	HashedToken    string   `json:"hashed_token"`
	Scopes         []string `json:"scopes"`
	ExpiresAt      *string  `json:"expires_at"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	Token          string   `json:"token,omitempty"` // in the create response only
}

// dateFormat is Strings' YYYY-MM-DDTHH:MM:SSZ.
const dateFormat = "2006-01-02T15:04:05Z"

func toJSON(t store.PersonalAccessToken, token string) Authorization {
	a := Authorization{
		ID: t.ID, Note: t.Note, TokenLastEight: t.LastEight, HashedToken: t.Hash, Scopes: t.Scopes,
		CreatedAt: t.CreatedAt.UTC().Format(dateFormat), UpdatedAt: t.UpdatedAt.UTC().Format(dateFormat), Token: token,
	}
	if a.Scopes == nil {
		a.Scopes = []string{}
	}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt.UTC().Format(dateFormat)
		a.ExpiresAt = &e
	}
	return a
}

// ---- errors ----

type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Message  string `json:"message"`
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	httpx.WriteJSON(w, status, map[string]string{"message": msg})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *pat.ValidationError
		in *httpx.InputError
	)
	switch {
	case errors.As(err, &ve):
		httpx.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"message": "Validation Failed",
			"errors":  []fieldError{{Resource: "Authorization", Field: ve.Field, Message: ve.Message}},
		})
	case errors.As(err, &in):
		writeMessage(w, in.Status, in.Message)
	case errors.Is(err, pat.ErrNotFound):
		writeMessage(w, http.StatusNotFound, "Not Found")
	case errors.Is(err, store.ErrUnavailable):
		httpx.Unavailable(w)
		writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
	default:
		h.Log.ErrorContext(r.Context(), "strings api: internal error", "err", err)
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// ---- authentication ----

// authenticate checks HTTP Basic username-or-email and password, the only
// credentials the Authorizations API takes. It writes the response and
// returns false when the request may not go on.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	challenge := func(msg string) (store.User, bool) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Phrase"`)
		writeMessage(w, http.StatusUnauthorized, msg)
		return store.User{}, false
	}
	user, pw, ok := r.BasicAuth()
	switch {
	case !ok && r.Header.Get("Authorization") == "":
		return challenge("Unauthorized: use HTTP Basic authentication with your username or email and password")
	case !ok, pw == "":
		// A personal access token (as token, Bearer or Basic user name)
		// must not be able to mint or manage tokens (T40).
		return challenge("Unauthorized: the Authorizations API accepts only your username or email and password, not an access token")
	}
	u, err := h.ID.AuthenticateOTP(r.Context(), "strings", user, pw, r.Header.Get(OTPHeader), httpx.ClientIP(r.Context()))
	var th *identity.ThrottledError
	switch {
	case err == nil:
	case errors.Is(err, identity.ErrOTPRequired):
		w.Header().Set(OTPHeader, "required")
		return challenge("Unauthorized: two-factor authentication is enabled; send the code in the " + OTPHeader + " header")
	case errors.Is(err, identity.ErrInvalidCredentials):
		return challenge("Unauthorized: invalid username, email, password or two-factor code")
	case errors.As(err, &th):
		h.throttledHeaders(w, th)
		httpx.RetryAfter(w, th.RetryAfter)
		writeMessage(w, http.StatusTooManyRequests, "Too many failed sign-in attempts; try again later")
		return store.User{}, false
	default:
		h.fail(w, r, err)
		return store.User{}, false
	}
	if !h.rateLimit(w, u) {
		return store.User{}, false
	}
	return u, true
}

// ---- rate limit ----

// windowLimiter counts requests per user in fixed windows. It is a
// per-process counter: with several instances each enforces the limit on
// its own share, which is what the headers then describe.
type windowLimiter struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	start time.Time
	count int
}

// take counts one request of key at now and returns the remaining
// allowance and when the window resets; ok is false past the limit.
func (l *windowLimiter) take(key string, now time.Time) (remaining int, reset time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil || !now.Before(b.start.Add(l.window)) {
		if len(l.buckets) >= 100_000 {
			for k, v := range l.buckets { // forget finished windows
				if !now.Before(v.start.Add(l.window)) {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{start: now}
		l.buckets[key] = b
	}
	reset = b.start.Add(l.window)
	if b.count >= l.limit {
		return 0, reset, false
	}
	b.count++
	return l.limit - b.count, reset, true
}

func (h *Handler) rateLimit(w http.ResponseWriter, u store.User) bool {
	if h.Requests != nil {
		return h.sharedRateLimit(w, u)
	}
	h.once.Do(func() {
		limit, window := h.Limit, h.Window
		if limit <= 0 {
			limit = 1000
		}
		if window <= 0 {
			window = 5 * time.Minute
		}
		h.limiter = &windowLimiter{limit: limit, window: window, buckets: map[string]*bucket{}}
	})
	now := h.Now()
	remaining, reset, ok := h.limiter.take(u.UID, now)
	w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(h.limiter.limit))
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if !ok {
		httpx.RetryAfter(w, reset.Sub(now))
		writeMessage(w, http.StatusTooManyRequests, "Rate limit exceeded")
	}
	return ok
}

// ---- request bodies ----

// expiry decodes expires_at: null means never, a string is parsed by the
// domain, anything else is a wrong type (400). It is a value field, so
// encoding/json calls UnmarshalJSON for null too and set tells "absent"
// from "null".
type expiry struct {
	set bool
	pat.Expiry
}

func (e *expiry) UnmarshalJSON(b []byte) error {
	e.set = true
	if string(b) == "null" {
		e.Never = true
		return nil
	}
	if err := json.Unmarshal(b, &e.Value); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string](), Field: "expires_at"}
	}
	return nil
}

type body struct {
	Note      *string   `json:"note"`
	Scopes    *[]string `json:"scopes"`
	ExpiresAt expiry    `json:"expires_at"`
}

// decode reads the request body. A JSON null for note or scopes counts
// as absent; for expires_at it means "never expires".
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (pat.Changes, error) {
	var b body
	if err := httpx.DecodeJSON(w, r, &b); err != nil {
		return pat.Changes{}, err
	}
	c := pat.Changes{Note: b.Note, Scopes: b.Scopes}
	if b.ExpiresAt.set {
		c.ExpiresAt = &b.ExpiresAt.Expiry
	}
	return c, nil
}

// ---- handlers ----

func (h *Handler) Create(w http.ResponseWriter, r *http.Request) {
	u, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	c, err := h.decode(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	t, token, err := h.PATs.Create(r.Context(), u, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", strings.TrimRight(h.Issuer, "/")+"/v2/authorizations/"+t.ID)
	httpx.WriteJSON(w, http.StatusCreated, toJSON(t, token))
}

func (h *Handler) Show(w http.ResponseWriter, r *http.Request) {
	u, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	t, err := h.PATs.Get(r.Context(), u, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toJSON(t, ""))
}

func (h *Handler) Update(w http.ResponseWriter, r *http.Request) {
	u, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	c, err := h.decode(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	t, err := h.PATs.Update(r.Context(), u, r.PathValue("id"), c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toJSON(t, ""))
}

func (h *Handler) Delete(w http.ResponseWriter, r *http.Request) {
	u, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if err := h.PATs.Delete(r.Context(), u, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) List(w http.ResponseWriter, r *http.Request) {
	u, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, err := positive(q, "page", 1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	perPage, err := positive(q, "per_page", DefaultPerPage)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	perPage = min(perPage, MaxPerPage)
	// page*perPage cannot overflow: positive caps page.
	ts, total, err := h.PATs.List(r.Context(), u, (page-1)*perPage, perPage)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.paginate(w, page, perPage, total)
	out := make([]Authorization, 0, len(ts))
	for _, t := range ts {
		out = append(out, toJSON(t, ""))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// maxPage bounds the page number so that offsets stay small integers.
const maxPage = 1_000_000

// positive reads a positive integer query parameter.
func positive(q url.Values, name string, def int) (int, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	if len(v) != 1 {
		return 0, &httpx.InputError{Status: http.StatusBadRequest, Field: name, Message: name + " must be given once"}
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 1 || n > maxPage {
		return 0, &httpx.InputError{Status: http.StatusBadRequest, Field: name, Message: fmt.Sprintf("%s must be an integer from 1 to %d", name, maxPage)}
	}
	return n, nil
}

// paginate sets Link (RFC 8288: first, prev, next, last) and the
// Pagination header of the Strings API.
func (h *Handler) paginate(w http.ResponseWriter, page, perPage, total int) {
	last := max(1, (total+perPage-1)/perPage)
	link := func(p int, rel string) string {
		return fmt.Sprintf(`<%s/v2/authorizations?page=%d&per_page=%d>; rel="%s"`, strings.TrimRight(h.Issuer, "/"), p, perPage, rel)
	}
	links := []string{link(1, "first")}
	var prev, next *int
	if page > 1 {
		p := min(page-1, last)
		prev = &p
		links = append(links, link(p, "prev"))
	}
	if page < last {
		n := page + 1
		next = &n
		links = append(links, link(n, "next"))
	}
	links = append(links, link(last, "last"))
	w.Header().Set("Link", strings.Join(links, ", "))
	b, _ := json.Marshal(map[string]any{
		"total_count": total, "current_page": page, "current_per_page": perPage,
		"previous_page": prev, "next_page": next,
	})
	w.Header().Set("Pagination", string(b))
}
