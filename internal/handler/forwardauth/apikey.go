package forwardauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// invalidAPIKey is ProZ's answer to a bad API key (SPEC §3.4).
var invalidAPIKey = map[string]any{
	"error":             "invalid_api_key",
	"error_description": "Invalid API key.",
	"error_messages":    []string{"Invalid API key."},
	"success":           0,
}

// WriteAPIKeyError answers a failed API-key authentication (an error of
// Resolver.Principal) in the ProZ shape, whichever of tolk's endpoints it
// reached: 429 with Retry-After when the client is throttled, else 401
// invalid_api_key. It reports whether err was such a failure; other
// errors are left to the caller's dialect.
func WriteAPIKeyError(w http.ResponseWriter, err error) bool {
	var e *authn.Error
	if !errors.As(err, &e) || e.Method != verify.MethodAPIKey {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	var th *authn.ThrottledError
	if errors.As(err, &th) {
		secs := int((th.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error": "too_many_requests", "error_description": "Too many invalid API keys; try again later.",
			"error_messages": []string{"Too many invalid API keys; try again later."}, "success": 0,
		})
		return true
	}
	if errors.Is(err, store.ErrUnavailable) {
		httpx.Unavailable(w)
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error": "temporarily_unavailable", "error_description": "The service is temporarily unavailable; retry later.",
			"error_messages": []string{"The service is temporarily unavailable; retry later."}, "success": 0,
		})
		return true
	}
	if !errors.Is(err, verify.ErrInvalid) {
		return false // a store failure: the caller's internal error
	}
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(invalidAPIKey)
	return true
}
