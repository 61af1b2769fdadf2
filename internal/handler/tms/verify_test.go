package tms_test

import (
	"net/http"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

// TestWhoAmIAnswersAsAuthVerify: whoAmI resolves and checks a credential
// as /auth/verify?audience=tms does (SPEC §4: the same rules), so for
// every credential of a user the two allow or refuse alike, with the same
// status.
func TestWhoAmIAnswersAsAuthVerify(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	u := s.CreateUser(t, "yara", store.RoleLinguist, "yara-password-1")
	jwt := func(aud string) []string {
		tok, _ := verifytest.PlatformJWT(t, s, u, aud, "read")
		return []string{"Authorization", "Bearer " + tok}
	}
	loggedOut := verifytest.APIToken(t, s, "yara", "yara-password-1")
	verifytest.Logout(t, s, loggedOut)
	for name, hdr := range map[string][]string{
		"ApiToken":               {"Authorization", "ApiToken " + verifytest.APIToken(t, s, "yara", "yara-password-1")},
		"ApiToken logged out":    {"Authorization", "ApiToken " + loggedOut},
		"API key":                {"X-Proz-API-Key", verifytest.APIKey(t, s, u)},
		"PAT":                    {"Authorization", "token " + verifytest.PAT(t, s, u, "read")},
		"Platform JWT for tms":   jwt("tms"),
		"Platform JWT, strings":  jwt("strings"),
		"unknown bearer token":   {"Authorization", "Bearer tolk_at_nonsense"},
		"malformed":              {"Authorization", "Bearer"},
		"unsupported scheme":     {"Authorization", "Digest x"},
		"no credential":          {"", ""},
		"Basic with a password":  {"Authorization", "Basic eWFyYTp5YXJhLXBhc3N3b3JkLTE="},
		"Basic with a PAT, none": {"Authorization", "Basic " + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjo="},
	} {
		t.Run(name, func(t *testing.T) {
			ask := func(path string) int {
				req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
				if hdr[0] != "" {
					req.Header.Set(hdr[0], hdr[1])
				}
				resp, _ := s.Do(t, req)
				return resp.StatusCode
			}
			if got, want := ask("/api2/v1/auth/whoAmI"), ask("/auth/verify?audience=tms"); got != want {
				t.Errorf("whoAmI %d, /auth/verify?audience=tms %d", got, want)
			}
		})
	}
}
