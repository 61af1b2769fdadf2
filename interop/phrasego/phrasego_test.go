package phrasego_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/antihax/optional"
	phrase "github.com/phrase/phrase-go/v4"
)

var (
	lena = user{Name: "lena", Email: "lena@example.com", First: "Lena", Last: "Lindqvist", Password: "phrasego-lena-password-1"}
	otto = user{Name: "otto", Email: "otto@example.com", First: "Otto", Last: "Olsen", Password: "phrasego-otto-password-1"}
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// sdk is Phrase's API client pointed at tolk, configured as the Phrase
// CLI configures it (a base path ending in /v2, its own user agent).
func sdk(s *tolk) *phrase.APIClient {
	cfg := phrase.NewConfiguration()
	cfg.BasePath = s.URL + "/v2"
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	cfg.SetUserAgent("tolk interop test")
	return phrase.NewAPIClient(cfg)
}

// password is the Basic authentication the Authorizations API takes.
func password(t *testing.T, u user) context.Context {
	return ctxWith(t, phrase.ContextBasicAuth, phrase.BasicAuth{UserName: u.Name, Password: u.Password})
}

// patForms are the ways the SDK can send a personal access token.
var patForms = []struct {
	name string
	ctx  func(t *testing.T, token string) context.Context
}{
	{"token prefix", func(t *testing.T, tok string) context.Context {
		return ctxWith(t, phrase.ContextAPIKey, phrase.APIKey{Key: tok, Prefix: "token"})
	}},
	{"bearer", func(t *testing.T, tok string) context.Context { return ctxWith(t, phrase.ContextAccessToken, tok) }},
	{"basic user name", func(t *testing.T, tok string) context.Context {
		return ctxWith(t, phrase.ContextBasicAuth, phrase.BasicAuth{UserName: tok})
	}},
}

// status is the HTTP status of an SDK call (0 without a response).
func status(r *phrase.APIResponse) int {
	if r == nil || r.Response == nil {
		return 0
	}
	return r.StatusCode
}

// checkCreated checks a new token as the SDK decoded it.
func checkCreated(t *testing.T, a phrase.AuthorizationWithToken, note string, scopes []string, expires time.Time) {
	t.Helper()
	sum := sha256.Sum256([]byte(a.Token))
	switch {
	case len(a.Id) != 32 || !hex64.MatchString(a.Token):
		t.Errorf("id %q, token %q: want 32 and 64 hex digits", a.Id, a.Token)
	case a.HashedToken != hex.EncodeToString(sum[:]) || a.TokenLastEight != a.Token[56:]:
		t.Errorf("hashed_token %q, token_last_eight %q do not match the token", a.HashedToken, a.TokenLastEight)
	}
	if a.Note != note || !slices.Equal(a.Scopes, scopes) {
		t.Errorf("note %q scopes %v, want %q %v", a.Note, a.Scopes, note, scopes)
	}
	if !a.ExpiresAt.Equal(expires) {
		t.Errorf("expires_at %v, want %v", a.ExpiresAt, expires)
	}
	if a.CreatedAt.IsZero() || a.UpdatedAt.Before(a.CreatedAt) {
		t.Errorf("created_at %v, updated_at %v", a.CreatedAt, a.UpdatedAt)
	}
}

// checkUser reads /v2/user with token in every form the SDK sends it.
func checkUser(t *testing.T, api *phrase.APIClient, token string, u user) {
	t.Helper()
	for _, f := range patForms {
		got, resp, err := api.UsersApi.ShowUser(f.ctx(t, token), nil)
		if err != nil {
			t.Errorf("ShowUser (%s): %d %v", f.name, status(resp), err)
			continue
		}
		if got.Username != u.Name || got.Email != u.Email || got.Name != u.First+" "+u.Last || got.Id == "" || got.CreatedAt.IsZero() {
			t.Errorf("ShowUser (%s) = %+v, want %s <%s>", f.name, got, u.Name, u.Email)
		}
	}
}

// TestAuthorizations drives the whole Authorizations API and /v2/user
// with the SDK for a user without two-factor authentication.
func TestAuthorizations(t *testing.T) {
	s := startTolk(t, lena)
	api := sdk(s)
	az := api.AuthorizationsApi
	ctx := password(t, lena)

	// Without an expiry the SDK sends "expires_at":"0001-01-01T00:00:00Z":
	// a token that never expires.
	forever, resp, err := az.AuthorizationCreate(ctx, phrase.AuthorizationCreateParameters{Note: "CLI", Scopes: []string{"read", "write"}}, nil)
	if err != nil || status(resp) != http.StatusCreated {
		t.Fatalf("create without expiry: %d %v", status(resp), err)
	}
	checkCreated(t, forever, "CLI", []string{"read", "write"}, time.Time{})
	if resp.Rate.Limit <= 0 || resp.Rate.Remaining <= 0 || resp.Rate.Reset.IsZero() {
		t.Errorf("rate limit headers as the SDK reads them: %+v", resp.Rate)
	}

	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	dated, resp, err := az.AuthorizationCreate(ctx, phrase.AuthorizationCreateParameters{Note: "deploy", Scopes: []string{"read"}, ExpiresAt: exp}, nil)
	if err != nil || status(resp) != http.StatusCreated {
		t.Fatalf("create with expiry: %d %v", status(resp), err)
	}
	checkCreated(t, dated, "deploy", []string{"read"}, exp)

	// Validation errors decode into the SDK's 422 model.
	_, resp, err = az.AuthorizationCreate(ctx, phrase.AuthorizationCreateParameters{Note: "late", ExpiresAt: time.Now().Add(-time.Hour)}, nil)
	var apiErr phrase.GenericOpenAPIError
	if status(resp) != http.StatusUnprocessableEntity || !errors.As(err, &apiErr) {
		t.Fatalf("create with a past expiry: %d %v, want 422", status(resp), err)
	}
	if m, ok := apiErr.Model().(phrase.DocumentDelete422Response); !ok || m.Message != "Validation Failed" || len(m.Errors) != 1 || m.Errors[0].Field != "expires_at" {
		t.Errorf("422 as the SDK decodes it: %#v", apiErr.Model())
	}

	t.Run("current user", func(t *testing.T) {
		checkUser(t, api, forever.Token, lena)
		checkUser(t, api, dated.Token, lena)
	})

	t.Run("list", func(t *testing.T) {
		var ids []string
		for page := int32(1); page <= 2; page++ {
			list, resp, err := az.AuthorizationsList(ctx, &phrase.AuthorizationsListOpts{Page: optional.NewInt32(page), PerPage: optional.NewInt32(1)})
			if err != nil || len(list) != 1 {
				t.Fatalf("page %d: %d %v %+v", page, status(resp), err, list)
			}
			ids = append(ids, list[0].Id)
		}
		if !slices.Equal(ids, []string{forever.Id, dated.Id}) {
			t.Errorf("listed %v, want %v (oldest first)", ids, []string{forever.Id, dated.Id})
		}
		all, resp, err := az.AuthorizationsList(ctx, nil)
		if err != nil || len(all) != 2 {
			t.Fatalf("list: %d %v %+v", status(resp), err, all)
		}
		if a := all[1]; a.Id != dated.Id || a.Note != "deploy" || !a.ExpiresAt.Equal(exp) || a.HashedToken != dated.HashedToken {
			t.Errorf("listed %+v, want %+v", a, dated)
		}
	})

	t.Run("show", func(t *testing.T) {
		a, resp, err := az.AuthorizationShow(ctx, dated.Id, nil)
		if err != nil || a.Id != dated.Id || a.Note != "deploy" || !slices.Equal(a.Scopes, []string{"read"}) || !a.ExpiresAt.Equal(exp) ||
			a.TokenLastEight != dated.TokenLastEight || !a.CreatedAt.Equal(dated.CreatedAt) {
			t.Fatalf("show: %d %v %+v", status(resp), err, a)
		}
	})

	t.Run("update", func(t *testing.T) {
		later := exp.Add(24 * time.Hour)
		a, resp, err := az.AuthorizationUpdate(ctx, forever.Id, phrase.AuthorizationUpdateParameters{Note: "CLI 2", ExpiresAt: later}, nil)
		if err != nil || a.Note != "CLI 2" || !slices.Equal(a.Scopes, []string{"read", "write"}) || !a.ExpiresAt.Equal(later) {
			t.Fatalf("update with an expiry: %d %v %+v", status(resp), err, a)
		}
		// Without an expiry the SDK sends the zero time: never expires.
		a, resp, err = az.AuthorizationUpdate(ctx, forever.Id, phrase.AuthorizationUpdateParameters{Scopes: []string{"read"}}, nil)
		if err != nil || a.Note != "CLI 2" || !slices.Equal(a.Scopes, []string{"read"}) || !a.ExpiresAt.IsZero() {
			t.Fatalf("update without an expiry: %d %v %+v", status(resp), err, a)
		}
		a, resp, err = az.AuthorizationUpdate(ctx, dated.Id, phrase.AuthorizationUpdateParameters{Note: "deploy 2"}, nil)
		if err != nil || a.Note != "deploy 2" || !a.ExpiresAt.IsZero() || a.UpdatedAt.Before(a.CreatedAt) {
			t.Fatalf("update of a dated token without an expiry: %d %v %+v", status(resp), err, a)
		}
		checkUser(t, api, forever.Token, lena)
	})

	t.Run("delete", func(t *testing.T) {
		_, resp, err := az.AuthorizationDelete(ctx, dated.Id, nil)
		if err != nil || status(resp) != http.StatusNoContent {
			t.Fatalf("delete: %d %v", status(resp), err)
		}
		if _, resp, err := az.AuthorizationShow(ctx, dated.Id, nil); err == nil || status(resp) != http.StatusNotFound {
			t.Errorf("show after delete: %d %v, want 404", status(resp), err)
		}
		for _, f := range patForms {
			if _, resp, err := api.UsersApi.ShowUser(f.ctx(t, dated.Token), nil); err == nil || status(resp) != http.StatusUnauthorized {
				t.Errorf("deleted token at /v2/user (%s): %d %v, want 401", f.name, status(resp), err)
			}
		}
		if all, _, err := az.AuthorizationsList(ctx, nil); err != nil || len(all) != 1 || all[0].Id != forever.Id {
			t.Errorf("list after delete: %v %+v", err, all)
		}
	})
}

// TestAuthorizationsTwoFactor: a user with two-factor authentication
// sends the code in X-PhraseApp-OTP (SPEC §3.3), which the SDK's
// XPhraseAppOTP option sets: a TOTP code or a recovery code.
func TestAuthorizationsTwoFactor(t *testing.T) {
	s := startTolk(t, otto)
	secret, step, recovery := enableTwoFactor(t, s, otto)
	api := sdk(s)
	az := api.AuthorizationsApi
	ctx := password(t, otto)
	otp := func(code string) optional.String { return optional.NewString(code) }

	_, resp, err := az.AuthorizationCreate(ctx, phrase.AuthorizationCreateParameters{Note: "no code"}, nil)
	if err == nil || status(resp) != http.StatusUnauthorized || resp.Header.Get("X-PhraseApp-OTP") != "required" {
		t.Fatalf("create without a code: %d %v, want 401 with X-PhraseApp-OTP: required", status(resp), err)
	}

	// The next step's code: enrolment used this step's, and a code is
	// accepted once, one step either side of the server's.
	plain, resp, err := az.AuthorizationCreate(ctx, phrase.AuthorizationCreateParameters{Note: "CLI"},
		&phrase.AuthorizationCreateOpts{XPhraseAppOTP: otp(totp(t, secret, step+1))})
	if err != nil || status(resp) != http.StatusCreated {
		t.Fatalf("create with a TOTP code, without expiry: %d %v", status(resp), err)
	}
	checkCreated(t, plain, "CLI", nil, time.Time{})

	exp := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	dated, resp, err := az.AuthorizationCreate(ctx, phrase.AuthorizationCreateParameters{Note: "deploy", Scopes: []string{"read"}, ExpiresAt: exp},
		&phrase.AuthorizationCreateOpts{XPhraseAppOTP: otp(recovery[0])})
	if err != nil || status(resp) != http.StatusCreated {
		t.Fatalf("create with a recovery code, with expiry: %d %v", status(resp), err)
	}
	checkCreated(t, dated, "deploy", []string{"read"}, exp)

	list, resp, err := az.AuthorizationsList(ctx, &phrase.AuthorizationsListOpts{XPhraseAppOTP: otp(recovery[1])})
	if err != nil || len(list) != 2 || list[0].Id != plain.Id || list[1].Id != dated.Id {
		t.Fatalf("list: %d %v %+v", status(resp), err, list)
	}
	a, resp, err := az.AuthorizationShow(ctx, dated.Id, &phrase.AuthorizationShowOpts{XPhraseAppOTP: otp(recovery[2])})
	if err != nil || a.Id != dated.Id || !a.ExpiresAt.Equal(exp) {
		t.Fatalf("show: %d %v %+v", status(resp), err, a)
	}
	a, resp, err = az.AuthorizationUpdate(ctx, dated.Id, phrase.AuthorizationUpdateParameters{Note: "deploy 2", Scopes: []string{"read", "write"}},
		&phrase.AuthorizationUpdateOpts{XPhraseAppOTP: otp(recovery[3])})
	if err != nil || a.Note != "deploy 2" || !slices.Equal(a.Scopes, []string{"read", "write"}) || !a.ExpiresAt.IsZero() {
		t.Fatalf("update: %d %v %+v", status(resp), err, a)
	}
	// A used recovery code is refused.
	if _, resp, err := az.AuthorizationShow(ctx, dated.Id, &phrase.AuthorizationShowOpts{XPhraseAppOTP: otp(recovery[3])}); err == nil || status(resp) != http.StatusUnauthorized {
		t.Errorf("show with a used recovery code: %d %v, want 401", status(resp), err)
	}

	// The tokens need no second factor.
	checkUser(t, api, plain.Token, otto)
	checkUser(t, api, dated.Token, otto)

	_, resp, err = az.AuthorizationDelete(ctx, dated.Id, &phrase.AuthorizationDeleteOpts{XPhraseAppOTP: otp(recovery[4])})
	if err != nil || status(resp) != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status(resp), err)
	}
	if _, resp, err := api.UsersApi.ShowUser(patForms[0].ctx(t, dated.Token), nil); err == nil || status(resp) != http.StatusUnauthorized {
		t.Errorf("deleted token at /v2/user: %d %v, want 401", status(resp), err)
	}
}
