package apikey_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/apikey"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

func newKey(t *testing.T, s *tolktest.Server, user string) (id, key string) {
	t.Helper()
	k, key, err := s.Tolk.APIKeys.CreateFor(t.Context(), user, "CAT tool")
	if err != nil {
		t.Fatal(err)
	}
	return k.ID, key
}

func get(t *testing.T, s *tolktest.Server, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return s.Do(t, req)
}

// checkProZ asserts the ProZ answer to a bad API key (SPEC §3.4).
func checkProZ(t *testing.T, what string, resp *http.Response, b []byte) {
	t.Helper()
	if resp.StatusCode != 401 {
		t.Errorf("%s: status %d, want 401: %s", what, resp.StatusCode, b)
		return
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %s", what, b)
	}
	want := map[string]any{"error": "invalid_api_key", "error_description": "Invalid API key.",
		"error_messages": []any{"Invalid API key."}, "success": float64(0)}
	if len(got) != len(want) {
		t.Errorf("%s: body %v, want %v", what, got, want)
	}
	for k, v := range want {
		gb, _ := json.Marshal(got[k])
		wb, _ := json.Marshal(v)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s: %s = %s, want %s", what, k, gb, wb)
		}
	}
}

var endpoints = []string{"/api2/v1/auth/whoAmI", "/user", "/v2/user", "/userinfo"}

func TestT41_APIKeyCarriesItsUsersAccess(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "piotr", store.RoleProjectManager, "piotr-password-1")
	_, key := newKey(t, s, "piotr")
	for _, p := range endpoints {
		resp, b := get(t, s, p, "X-Proz-API-Key", key)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	if _, b := get(t, s, "/user", "X-Proz-API-Key", key); !strings.Contains(string(b), "piotr@example.com") {
		t.Errorf("/user with the user's whole access shows the email: %s", b)
	}
	p, err := s.Tolk.APIKeys.Verify(t.Context(), key)
	if err != nil || p.Method != "apikey" || p.Scopes != nil || p.Audiences != nil || p.User.UserName != "piotr" {
		t.Errorf("principal = %+v, %v", p, err)
	}
}

func TestT41_BadAPIKeyGetsProZError(t *testing.T) {
	s := tolktest.New(t)
	_, key := newKey(t, s, "admin")
	// The last character flipped to another one always breaks the checksum
	// ("x" alone was the same key whenever the key ended in x).
	last := "x"
	if strings.HasSuffix(key, last) {
		last = "y"
	}
	bad := []string{
		"nonsense",
		key[:len(key)-1] + last, // checksum broken
		"tolk_pk_" + strings.Repeat("A", 49),
		"' OR 1=1--",
	}
	for _, k := range bad {
		for _, p := range endpoints {
			resp, b := get(t, s, p, "X-Proz-API-Key", k)
			checkProZ(t, p+" "+k, resp, b)
		}
	}
}

func TestT41_RevokedKeyFailsAtOnce(t *testing.T) {
	s := tolktest.New(t)
	id, key := newKey(t, s, "admin")
	if resp, _ := get(t, s, "/v2/user", "X-Proz-API-Key", key); resp.StatusCode != 200 {
		t.Fatalf("before revoke: %d", resp.StatusCode)
	}
	if err := s.Tolk.APIKeys.Revoke(t.Context(), "", id); err != nil {
		t.Fatal(err)
	}
	for _, p := range endpoints {
		resp, b := get(t, s, p, "X-Proz-API-Key", key)
		checkProZ(t, p, resp, b)
	}
}

func TestT41_KeyInQueryStringIgnored(t *testing.T) {
	s := tolktest.New(t)
	_, key := newKey(t, s, "admin")
	for _, q := range []string{"api_key", "key", "X-Proz-API-Key", "token", "access_token"} {
		for _, p := range []string{"/user", "/v2/user", "/api2/v1/auth/whoAmI"} {
			if resp, b := get(t, s, p+"?"+q+"="+key); resp.StatusCode != 401 {
				t.Errorf("%s?%s=key: %d %s", p, q, resp.StatusCode, b)
			}
		}
	}
}

func TestT41_FailedKeysRateLimited(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.InvalidTokenBurst = 5; c.InvalidTokenInterval = time.Minute }})
	_, key := newKey(t, s, "admin")
	var resp *http.Response
	var b []byte
	for i := range 6 {
		resp, b = get(t, s, "/v2/user", "X-Proz-API-Key", "tolk_pk_wrong"+strings.Repeat("x", i))
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"success":0`) {
		t.Fatalf("after 6 bad keys: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// Throttled means not even a good key is looked up from this address…
	if resp, _ := get(t, s, "/v2/user", "X-Proz-API-Key", key); resp.StatusCode != 429 {
		t.Errorf("good key while throttled: %d, want 429", resp.StatusCode)
	}
	// …until the bucket refills.
	s.Clock.Advance(time.Minute)
	if resp, b := get(t, s, "/v2/user", "X-Proz-API-Key", key); resp.StatusCode != 200 {
		t.Errorf("good key after the wait: %d %s", resp.StatusCode, b)
	}
}

func TestT41_HeaderNameConfigurable(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.APIKeyHeader = "X-Api-Key" }})
	_, key := newKey(t, s, "admin")
	if resp, b := get(t, s, "/v2/user", "X-Api-Key", key); resp.StatusCode != 200 {
		t.Errorf("configured header: %d %s", resp.StatusCode, b)
	}
	if resp, _ := get(t, s, "/v2/user", "X-Proz-API-Key", key); resp.StatusCode != 401 {
		t.Errorf("default header after reconfiguring: %d, want 401", resp.StatusCode)
	}
}

func TestT41_KeyStoredHashedAndNotLogged(t *testing.T) {
	s := tolktest.New(t)
	_, key := newKey(t, s, "admin")
	get(t, s, "/v2/user", "X-Proz-API-Key", key)
	get(t, s, "/v2/user?api_key="+key)
	get(t, s, "/v2/user", "X-Proz-API-Key", key+"x")
	if strings.Contains(s.Logs.String(), key) {
		t.Error("the logs contain the key")
	}
	path := strings.TrimPrefix(s.Tolk.Config.DB, "sqlite:")
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(key)) {
			t.Errorf("%s contains the key", f)
		}
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	s := tolktest.New(t)
	u := s.CreateUser(t, "gone", store.RoleLinguist, "gone-password-12")
	if _, _, err := s.Tolk.APIKeys.CreateFor(t.Context(), "nobody", ""); err == nil {
		t.Error("key for an unknown user created")
	}
	if _, _, err := s.Tolk.APIKeys.Create(t.Context(), u, strings.Repeat("n", 256)); err == nil {
		t.Error("key with a 256-character note created")
	}
}

// TestCreateInOrg: an admin's key goes only to an active user of the
// admin's organization; any other uid is an unknown user and makes no key.
func TestCreateInOrg(t *testing.T) {
	s := tolktest.New(t)
	ctx := t.Context()
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	gone := s.CreateUser(t, "gone", store.RoleLinguist, "gone-password-1")
	if err := s.Store.SetUserActive(ctx, gone.UID, false, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	org := store.Organization{UID: "6f0c7a52-2b8e-4f35-9a41-3f0e5d2c7b18", Name: "Other Org", CreatedAt: s.Clock.Now()}
	if err := s.Store.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	theirs, err := s.Tolk.Identity.CreateUser(ctx, identity.NewUser{OrgUID: org.UID, UserName: "theirs",
		Email: "theirs@example.com", Role: store.RoleLinguist, Password: "theirs-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, uid := range map[string]string{"another organization's": theirs.UID, "inactive": gone.UID,
		"made-up": "no-such-uid", "invalid text": "a\x00b"} {
		if _, _, err := s.Tolk.APIKeys.CreateInOrg(ctx, lena.OrgUID, uid, ""); !errors.Is(err, apikey.ErrUnknownUser) {
			t.Errorf("%s user: %v, want ErrUnknownUser", name, err)
		}
	}
	if keys, _ := s.Tolk.APIKeys.List(ctx, ""); len(keys) != 0 {
		t.Errorf("keys made for refused users: %+v", keys)
	}
	k, key, err := s.Tolk.APIKeys.CreateInOrg(ctx, lena.OrgUID, lena.UID, "CAT tool")
	if err != nil || k.UserUID != lena.UID || key == "" {
		t.Errorf("own organization's user: %+v %v", k, err)
	}
}
