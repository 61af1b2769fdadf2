package httpx

import (
	"net/http"
	"time"
)

// UnavailableRetry is the Retry-After of a 503 answered while the database
// cannot be reached: the server has already waited the outage out for a
// few seconds (the store's retries), and the failovers and restarts that
// cause one last a few seconds in all.
const UnavailableRetry = 2 * time.Second

// Unavailable sets the headers of a 503 for an unreachable database:
// Retry-After and no caching. The caller writes the body in its dialect's
// error shape. No log line per request: the store logs the outage once.
func Unavailable(w http.ResponseWriter) {
	RetryAfter(w, UnavailableRetry)
	NoStore(w)
}
