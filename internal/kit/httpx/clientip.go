package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the client address resolved by WithClientIP.
func ClientIP(ctx context.Context) string {
	if s := stateOf(ctx); s != nil {
		return s.ClientIP
	}
	return ""
}

// WithClientIP resolves the client's address: the peer address, unless the
// peer is a trusted proxy, in which case the right-most X-Forwarded-For
// entry that is not itself a trusted proxy. Left-most entries are the
// client's own claims and are never believed.
func WithClientIP(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, ip := peerAddr(r.RemoteAddr)
			peer := ip
			if ip.IsValid() && isTrusted(ip) {
				hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
				for i := len(hops) - 1; i >= 0; i-- {
					a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
					if err != nil {
						break
					}
					ip = a
					if !isTrusted(a) {
						break
					}
				}
			}
			s := r.RemoteAddr
			switch {
			case !ip.IsValid():
			case ip == peer && ip.Is4():
				// The peer's own text is canonical already (ParseAddr
				// takes no other IPv4 form): no need to format it again.
				s = host
			default:
				s = ip.Unmap().String()
			}
			r, st := withState(r)
			st.ClientIP = s
			next.ServeHTTP(w, r)
		})
	}
}

func peerAddr(remote string) (string, netip.Addr) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return host, a
}
