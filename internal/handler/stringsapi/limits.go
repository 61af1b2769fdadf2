package stringsapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/store"
)

// sharedRateLimit counts one request of u in h.Requests, which every
// instance shares, and sets Strings' X-Rate-Limit-* headers from it. The
// limit is a token bucket (1000 requests, one back every 300 ms: Strings'
// 1000 per 5 minutes), so Reset, a Unix time as in Strings, is when the
// bucket is full again rather than the end of a fixed window. Past the limit it answers 429
// with Retry-After. A failing limiter backend is a 500 (fail closed).
func (h *Handler) sharedRateLimit(w http.ResponseWriter, u store.User) bool {
	ctx := context.Background()
	d, err := h.Requests.Hit(ctx, "u:"+u.UID)
	if errors.Is(err, store.ErrUnavailable) {
		httpx.Unavailable(w)
		writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
		return false
	}
	if err != nil {
		h.Log.Error("strings: rate limit", "err", err)
		writeMessage(w, http.StatusInternalServerError, "Internal server error")
		return false
	}
	now := h.Now()
	w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(d.Limit))
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(d.Remaining))
	// Reset: when the bucket is full again, rounded up to a whole second.
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(now.Add(d.Reset+time.Second-1).Unix(), 10))
	if !d.OK {
		httpx.RetryAfter(w, d.RetryAfter)
		writeMessage(w, http.StatusTooManyRequests, "Rate limit exceeded")
	}
	return d.OK
}

// throttledHeaders sets the X-Rate-Limit-* headers of a sign-in refused
// by the failure limits: nothing remains until Retry-After.
func (h *Handler) throttledHeaders(w http.ResponseWriter, th *identity.ThrottledError) {
	if th.Limit > 0 {
		w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(th.Limit))
	}
	w.Header().Set("X-Rate-Limit-Remaining", "0")
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(h.Now().Add(th.RetryAfter).Unix(), 10))
}
