package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
)

// runOAuth runs the suite's part for Clients, Tokens, Consents and
// SigningKeys.
func runOAuth(t *testing.T, open Opener) {
	t.Run("Clients", func(t *testing.T) { t.Parallel(); testClients(t, open) })
	t.Run("AuthCodes", func(t *testing.T) { t.Parallel(); testAuthCodes(t, open) })
	t.Run("AccessTokens", func(t *testing.T) { t.Parallel(); testAccessTokens(t, open) })
	t.Run("RefreshTokens", func(t *testing.T) { t.Parallel(); testRefreshTokens(t, open) })
	t.Run("RevokeGrant", func(t *testing.T) { t.Parallel(); testRevokeGrant(t, open) })
	t.Run("ExpiredTokens", func(t *testing.T) { t.Parallel(); testExpiredTokens(t, open) })
	t.Run("Consents", func(t *testing.T) { t.Parallel(); testConsents(t, open) })
	t.Run("RevokeAuthorization", func(t *testing.T) { t.Parallel(); testRevokeAuthorization(t, open) })
	t.Run("SigningKeys", func(t *testing.T) { t.Parallel(); testSigningKeys(t, open) })
	t.Run("OAuthConcurrency", func(t *testing.T) { t.Parallel(); testOAuthConcurrency(t, open) })
	t.Run("Cutoffs", func(t *testing.T) { t.Parallel(); runCutoffs(t, open) })
}

// ---- fixtures ----

func newClient(org store.Organization) store.Client {
	return store.Client{
		ID:              "client-" + shortID(),
		OrgUID:          org.UID,
		Name:            "Acme CAT tool",
		Description:     "Pulls jobs for translators",
		SecretHash:      hash(),
		RedirectURIs:    []string{"https://cat.example/callback", "http://127.0.0.1:8080/cb"},
		GrantTypes:      []string{"authorization_code", "refresh_token"},
		Scopes:          []string{"openid", "profile", "offline_access", "tms"},
		Audiences:       []string{"https://tms.example"},
		Public:          false,
		AdminConsent:    true,
		JWTAccessTokens: true,
		AlwaysRefresh:   false,
		CreatedAt:       base(),
		UpdatedAt:       base(),
	}
}

func mustClient(t testing.TB, s store.Store, c store.Client) store.Client {
	t.Helper()
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
	return c
}

// party is an organization with a user and a client of it.
type party struct {
	org    store.Organization
	user   store.User
	client store.Client
}

func mustParty(t testing.TB, s store.Store) party {
	t.Helper()
	o := mustOrg(t, s)
	return party{
		org:    o,
		user:   mustUser(t, s, newUser(o, "user-"+shortID())),
		client: mustClient(t, s, newClient(o)),
	}
}

func (p party) code(grantID string) store.AuthCode {
	return store.AuthCode{
		Hash:                hash(),
		ClientID:            p.client.ID,
		UserUID:             p.user.UID,
		RedirectURI:         p.client.RedirectURIs[0],
		Scopes:              []string{"openid", "offline_access"},
		Audiences:           []string{"https://tms.example"},
		Nonce:               "n-" + shortID(),
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		AuthTime:            at(-1),
		GrantID:             grantID,
		CreatedAt:           base(),
		ExpiresAt:           at(1),
	}
}

func (p party) access(grantID string) store.AccessToken {
	return store.AccessToken{
		Hash:      hash(),
		ClientID:  p.client.ID,
		UserUID:   p.user.UID,
		OrgUID:    p.org.UID,
		Scopes:    []string{"openid", "offline_access"},
		Audiences: []string{"https://tms.example"},
		GrantID:   grantID,
		AuthTime:  at(-1),
		CreatedAt: base(),
		ExpiresAt: at(60),
	}
}

func (p party) refresh(grantID string) store.RefreshToken {
	return store.RefreshToken{
		Hash:      hash(),
		ClientID:  p.client.ID,
		UserUID:   p.user.UID,
		OrgUID:    p.org.UID,
		Scopes:    []string{"openid", "offline_access"},
		Audiences: []string{"https://tms.example"},
		GrantID:   grantID,
		AuthTime:  at(-1),
		CreatedAt: base(),
		ExpiresAt: at(60 * 24 * 30),
	}
}

func mustCode(t testing.TB, s store.Store, c store.AuthCode) store.AuthCode {
	t.Helper()
	if err := s.CreateAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	return c
}

func mustAccess(t *testing.T, s store.Store, a store.AccessToken) store.AccessToken {
	t.Helper()
	if err := s.CreateAccessToken(t.Context(), a); err != nil {
		t.Fatalf("CreateAccessToken: %v", err)
	}
	return a
}

// mustRefresh stores r by redeeming a fresh code of its grant (Tokens has
// no plain CreateRefreshToken), together with an access token.
func mustRefresh(t *testing.T, s store.Store, p party, r store.RefreshToken) store.RefreshToken {
	t.Helper()
	c := mustCode(t, s, p.code(r.GrantID))
	if err := s.RedeemAuthCode(t.Context(), c.Hash, base(), new(p.access(r.GrantID)), &r); err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	return r
}

func newKey(alg string, created time.Time) store.SigningKey {
	return store.SigningKey{
		KID:       "kid-" + shortID(),
		Alg:       alg,
		SealedKey: []byte("sealed\x00" + uuid.NewString()),
		PublicKey: []byte("public\x00\xff" + uuid.NewString()),
		CreatedAt: created,
	}
}

// ---- comparisons ----

// sameStrings compares string lists by content: nil equals empty.
func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

func checkStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !sameStrings(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// checkOptTime is checkTime for a time that may be zero.
func checkOptTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v, want zero", what, got)
		}
		return
	}
	checkTime(t, what, got, want)
}

func checkClient(t *testing.T, got, want store.Client) {
	t.Helper()
	g, w := got, want
	for _, c := range []*store.Client{&g, &w} {
		c.RedirectURIs, c.GrantTypes, c.Scopes, c.Audiences = nil, nil, nil, nil
		c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("client = %+v\nwant     %+v", g, w)
	}
	checkStrings(t, "Client.RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	checkStrings(t, "Client.GrantTypes", got.GrantTypes, want.GrantTypes)
	checkStrings(t, "Client.Scopes", got.Scopes, want.Scopes)
	checkStrings(t, "Client.Audiences", got.Audiences, want.Audiences)
	checkTime(t, "Client.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "Client.UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkAuthCode(t *testing.T, got, want store.AuthCode) {
	t.Helper()
	g, w := got, want
	for _, c := range []*store.AuthCode{&g, &w} {
		c.Scopes, c.Audiences = nil, nil
		c.AuthTime, c.CreatedAt, c.ExpiresAt, c.UsedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("auth code = %+v\nwant        %+v", g, w)
	}
	checkStrings(t, "AuthCode.Scopes", got.Scopes, want.Scopes)
	checkStrings(t, "AuthCode.Audiences", got.Audiences, want.Audiences)
	checkOptTime(t, "AuthCode.AuthTime", got.AuthTime, want.AuthTime)
	checkTime(t, "AuthCode.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "AuthCode.ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkOptTime(t, "AuthCode.UsedAt", got.UsedAt, want.UsedAt)
}

func checkAccess(t *testing.T, got, want store.AccessToken) {
	t.Helper()
	g, w := got, want
	for _, a := range []*store.AccessToken{&g, &w} {
		a.Scopes, a.Audiences = nil, nil
		a.AuthTime, a.CreatedAt, a.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("access token = %+v\nwant           %+v", g, w)
	}
	checkStrings(t, "AccessToken.Scopes", got.Scopes, want.Scopes)
	checkStrings(t, "AccessToken.Audiences", got.Audiences, want.Audiences)
	checkOptTime(t, "AccessToken.AuthTime", got.AuthTime, want.AuthTime)
	checkTime(t, "AccessToken.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "AccessToken.ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func checkRefresh(t *testing.T, got, want store.RefreshToken) {
	t.Helper()
	g, w := got, want
	for _, r := range []*store.RefreshToken{&g, &w} {
		r.Scopes, r.Audiences = nil, nil
		r.AuthTime, r.CreatedAt, r.ExpiresAt, r.UsedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("refresh token = %+v\nwant            %+v", g, w)
	}
	checkStrings(t, "RefreshToken.Scopes", got.Scopes, want.Scopes)
	checkStrings(t, "RefreshToken.Audiences", got.Audiences, want.Audiences)
	checkOptTime(t, "RefreshToken.AuthTime", got.AuthTime, want.AuthTime)
	checkTime(t, "RefreshToken.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkOptTime(t, "RefreshToken.ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkOptTime(t, "RefreshToken.UsedAt", got.UsedAt, want.UsedAt)
}

func checkConsent(t *testing.T, got, want store.Consent) {
	t.Helper()
	if got.UserUID != want.UserUID || got.ClientID != want.ClientID {
		t.Errorf("consent = %+v, want %+v", got, want)
	}
	checkStrings(t, "Consent.Scopes", got.Scopes, want.Scopes)
	checkTime(t, "Consent.GrantedAt", got.GrantedAt, want.GrantedAt)
}

func checkKey(t *testing.T, got, want store.SigningKey) {
	t.Helper()
	if got.KID != want.KID || got.Alg != want.Alg ||
		!bytes.Equal(got.SealedKey, want.SealedKey) || !bytes.Equal(got.PublicKey, want.PublicKey) {
		t.Errorf("signing key = %+v\nwant          %+v", got, want)
	}
	checkTime(t, "SigningKey.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkOptTime(t, "SigningKey.RetiredAt", got.RetiredAt, want.RetiredAt)
	checkOptTime(t, "SigningKey.PublishedTo", got.PublishedTo, want.PublishedTo)
}

// checkExists reports a look-up error that does not match want: nil if
// the record should exist, ErrNotFound if not.
func checkExists(t *testing.T, what string, err error, want bool) {
	t.Helper()
	switch {
	case want && err != nil:
		t.Errorf("%s: %v, want it present", what, err)
	case !want && !errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: error = %v, want ErrNotFound", what, err)
	}
}

// ---- clients ----

// sqlPayloads are strings that would change a query if spliced into it;
// the last ones also need quoting inside array or JSON literals.
var sqlPayloads = []string{
	`' OR 1=1--`,
	`"; DROP TABLE clients;--`,
	`'); DELETE FROM clients; --`,
	`admin'--`,
	`%`,
	`_`,
	`\' OR \'\'=\'`,
	`{a,b}`,
	`"quoted", NULL`,
	`NULL`,
	`["x"]`,
	`\u0000 \\ \" <script>&amp;`,
	"",
}

func testClients(t *testing.T, open Opener) {
	parallel(t, "CreateGet", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		tests := []struct {
			name   string
			mutate func(c *store.Client)
		}{
			{"confidential", func(c *store.Client) {}},
			{"public, all flags", func(c *store.Client) {
				c.SecretHash, c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh = "", true, true, true, true
			}},
			{"no flags", func(c *store.Client) {
				c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh = false, false, false, false
			}},
			{"nil lists", func(c *store.Client) {
				c.RedirectURIs, c.GrantTypes, c.Scopes, c.Audiences = nil, nil, nil, nil
			}},
			{"empty lists", func(c *store.Client) {
				c.RedirectURIs, c.GrantTypes, c.Scopes, c.Audiences = []string{}, []string{}, []string{}, []string{}
			}},
			{"non-ASCII, empty element", func(c *store.Client) {
				c.Name, c.Description = "Übersetzer 翻訳", "Zeilen\numbruch\ttab"
				c.Scopes = []string{"", "skóp", "a b"}
			}},
			{"times", func(c *store.Client) {
				c.CreatedAt = time.Date(2025, 6, 30, 23, 59, 59, 999999999, time.FixedZone("UTC+2", 7200))
				c.UpdatedAt = time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC)
			}},
		}
		for _, tt := range tests {
			c := newClient(o)
			tt.mutate(&c)
			mustClient(t, s, c)
			got, err := s.GetClient(ctx, c.ID)
			if err != nil {
				t.Errorf("%s: GetClient: %v", tt.name, err)
				continue
			}
			checkClient(t, got, c)
			if len(c.Scopes) == 0 && got.Scopes != nil {
				t.Errorf("%s: empty Scopes came back as %#v, want nil", tt.name, got.Scopes)
			}
		}
	})

	parallel(t, "Errors", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		c := mustClient(t, s, newClient(o))
		dup := newClient(o)
		dup.ID = c.ID
		checkErrIs(t, "CreateClient(same ID)", s.CreateClient(ctx, dup), store.ErrConflict)
		if err := s.CreateClient(ctx, newClient(newOrg())); err == nil {
			t.Errorf("CreateClient with unknown OrgUID succeeded")
		}
		unknown := newClient(o)
		tests := []struct {
			name string
			call func() error
		}{
			{"GetClient", func() error { _, err := s.GetClient(ctx, unknown.ID); return err }},
			{"UpdateClient", func() error { return s.UpdateClient(ctx, unknown) }},
			{"DeleteClient", func() error { return s.DeleteClient(ctx, unknown.ID) }},
		}
		for _, tt := range tests {
			checkErrIs(t, tt.name+"(unknown)", tt.call(), store.ErrNotFound)
		}
		if cs, err := s.ListClients(ctx, ""); err != nil || len(cs) != 1 {
			t.Errorf("ListClients = %d clients, %v; want 1", len(cs), err)
		}
	})

	parallel(t, "List", open, func(t *testing.T, ctx context.Context, s store.Store) {
		if cs, err := s.ListClients(ctx, ""); err != nil || len(cs) != 0 {
			t.Fatalf("ListClients on empty store = %v, %v; want none", cs, err)
		}
		o1, o2 := mustOrg(t, s), mustOrg(t, s)
		mk := func(o store.Organization, m int, id string) store.Client {
			c := newClient(o)
			c.ID, c.CreatedAt = id, at(m)
			return mustClient(t, s, c)
		}
		// Inserted out of order; b and a share a creation time.
		c30 := mk(o1, 30, "c30")
		b10 := mk(o2, 10, "b10")
		a10 := mk(o1, 10, "a10")
		c0 := mk(o2, 0, "c0")
		tests := []struct {
			org  string
			want []store.Client
		}{
			{"", []store.Client{c0, a10, b10, c30}},
			{o1.UID, []store.Client{a10, c30}},
			{o2.UID, []store.Client{c0, b10}},
			{uuid.NewString(), nil},
		}
		for _, tt := range tests {
			got, err := s.ListClients(ctx, tt.org)
			if err != nil {
				t.Fatalf("ListClients(%q): %v", tt.org, err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("ListClients(%q) returned %d clients, want %d", tt.org, len(got), len(tt.want))
				continue
			}
			for i := range tt.want {
				checkClient(t, got[i], tt.want[i])
			}
		}
	})

	parallel(t, "Update", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		c := mustClient(t, s, newClient(o))
		other := mustClient(t, s, newClient(o))
		upd := store.Client{
			ID:              c.ID,
			OrgUID:          uuid.NewString(), // immutable: ignored
			Name:            "Renamed",
			Description:     "",
			SecretHash:      "",
			RedirectURIs:    []string{"https://new.example/cb"},
			GrantTypes:      []string{"client_credentials"},
			Scopes:          nil,
			Audiences:       []string{"a", "b"},
			Public:          true,
			AdminConsent:    false,
			JWTAccessTokens: false,
			AlwaysRefresh:   true,
			CreatedAt:       at(99), // immutable: ignored
			UpdatedAt:       at(5),
		}
		if err := s.UpdateClient(ctx, upd); err != nil {
			t.Fatalf("UpdateClient: %v", err)
		}
		got, err := s.GetClient(ctx, c.ID)
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		want := upd
		// SecretHash is SetClientSecret's alone.
		want.OrgUID, want.CreatedAt, want.SecretHash = c.OrgUID, c.CreatedAt, c.SecretHash
		checkClient(t, got, want)
		if got, err := s.GetClient(ctx, other.ID); err != nil {
			t.Errorf("GetClient(other): %v", err)
		} else {
			checkClient(t, got, other)
		}
	})

	parallel(t, "DeleteCascades", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "walter"))
		type family struct {
			code    store.AuthCode
			access  store.AccessToken
			cc      store.AccessToken // client_credentials
			refresh store.RefreshToken
			consent store.Consent
		}
		mk := func() (store.Client, family) {
			p := party{org: o, user: u, client: mustClient(t, s, newClient(o))}
			var f family
			grant := uuid.NewString()
			f.code = mustCode(t, s, p.code(grant))
			f.refresh = mustRefresh(t, s, p, p.refresh(grant))
			f.access = mustAccess(t, s, p.access(grant))
			f.cc = p.access(uuid.NewString())
			f.cc.UserUID = ""
			mustAccess(t, s, f.cc)
			f.consent = store.Consent{UserUID: u.UID, ClientID: p.client.ID, Scopes: []string{"openid"}, GrantedAt: base()}
			if err := s.SaveConsent(ctx, f.consent); err != nil {
				t.Fatalf("SaveConsent: %v", err)
			}
			return p.client, f
		}
		gone, goneF := mk()
		stay, stayF := mk()
		if err := s.DeleteClient(ctx, gone.ID); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		for _, c := range []struct {
			f      family
			exists bool
		}{{goneF, false}, {stayF, true}} {
			_, err := s.GetAuthCode(ctx, c.f.code.Hash)
			checkExists(t, "GetAuthCode", err, c.exists)
			_, err = s.GetAccessToken(ctx, c.f.access.Hash)
			checkExists(t, "GetAccessToken", err, c.exists)
			_, err = s.GetAccessToken(ctx, c.f.cc.Hash)
			checkExists(t, "GetAccessToken(client_credentials)", err, c.exists)
			_, err = s.GetRefreshToken(ctx, c.f.refresh.Hash)
			checkExists(t, "GetRefreshToken", err, c.exists)
			_, err = s.GetConsent(ctx, c.f.consent.UserUID, c.f.consent.ClientID)
			checkExists(t, "GetConsent", err, c.exists)
		}
		_, err := s.GetClient(ctx, gone.ID)
		checkErrIs(t, "GetClient(deleted)", err, store.ErrNotFound)
		if _, err := s.GetClient(ctx, stay.ID); err != nil {
			t.Errorf("GetClient(other): %v", err)
		}
		if _, err := s.GetUser(ctx, u.UID); err != nil {
			t.Errorf("GetUser after DeleteClient: %v", err)
		}
	})

	// SetClientSecret replaces the hash of one app, and only it, with
	// UpdatedAt; an unknown app is ErrNotFound.
	parallel(t, "SetClientSecret", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		c := mustClient(t, s, newClient(o))
		other := mustClient(t, s, newClient(o))
		newHash := hash()
		if err := s.SetClientSecret(ctx, c.ID, newHash, at(7)); err != nil {
			t.Fatalf("SetClientSecret: %v", err)
		}
		want := c
		want.SecretHash, want.UpdatedAt = newHash, at(7)
		if got, err := s.GetClient(ctx, c.ID); err != nil {
			t.Fatalf("GetClient: %v", err)
		} else {
			checkClient(t, got, want)
		}
		if got, err := s.GetClient(ctx, other.ID); err != nil {
			t.Fatalf("GetClient(other): %v", err)
		} else {
			checkClient(t, got, other)
		}
		// An edit made with a copy read before the rotation keeps the new
		// secret.
		stale := c
		stale.Name, stale.UpdatedAt = "Renamed", at(8)
		if err := s.UpdateClient(ctx, stale); err != nil {
			t.Fatalf("UpdateClient: %v", err)
		}
		if got, err := s.GetClient(ctx, c.ID); err != nil || got.SecretHash != newHash {
			t.Errorf("after a stale UpdateClient the secret hash is %q (%v), want the rotated %q", got.SecretHash, err, newHash)
		}
		checkErrIs(t, "SetClientSecret(unknown)", s.SetClientSecret(ctx, "no-such-client", hash(), at(9)), store.ErrNotFound)
	})

	parallel(t, "SQLInjectionIsLiteral", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		bystander := mustClient(t, s, newClient(o))
		want := map[string]store.Client{}
		for i, p := range sqlPayloads {
			c := newClient(o)
			c.ID = fmt.Sprintf("%s#%d", p, i)
			c.Name, c.Description, c.SecretHash = p, p, p
			c.RedirectURIs = []string{p, "https://x.example/?q=" + p}
			c.GrantTypes = []string{p}
			c.Scopes = slices.Clone(sqlPayloads)
			c.Audiences = []string{p, p}
			mustClient(t, s, c)
			want[c.ID] = c
		}
		for id, c := range want {
			got, err := s.GetClient(ctx, id)
			if err != nil {
				t.Errorf("GetClient(%q): %v", id, err)
				continue
			}
			checkClient(t, got, c)
		}
		cs, err := s.ListClients(ctx, o.UID)
		if err != nil || len(cs) != len(sqlPayloads)+1 {
			t.Errorf("ListClients = %d clients, %v; want %d", len(cs), err, len(sqlPayloads)+1)
		}
		if _, err := s.ListClients(ctx, sqlPayloads[0]); err != nil {
			t.Errorf("ListClients(payload): %v", err)
		}
		got, err := s.GetClient(ctx, bystander.ID)
		if err != nil {
			t.Fatalf("GetClient(bystander): %v", err)
		}
		checkClient(t, got, bystander)
	})
}

// ---- authorization codes ----

func testAuthCodes(t *testing.T, open Opener) {
	parallel(t, "CreateGet", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		tests := []struct {
			name   string
			mutate func(c *store.AuthCode)
		}{
			{"full", func(c *store.AuthCode) {}},
			{"minimal", func(c *store.AuthCode) {
				c.RedirectURI, c.Nonce, c.CodeChallenge, c.CodeChallengeMethod = "", "", "", ""
				c.Scopes, c.Audiences, c.AuthTime = nil, []string{}, time.Time{}
			}},
			{"expired and used", func(c *store.AuthCode) { c.ExpiresAt, c.UsedAt = at(-5), at(-6) }},
		}
		for _, tt := range tests {
			c := p.code(uuid.NewString())
			tt.mutate(&c)
			mustCode(t, s, c)
			got, err := s.GetAuthCode(ctx, c.Hash)
			if err != nil {
				t.Errorf("%s: GetAuthCode: %v", tt.name, err)
				continue
			}
			checkAuthCode(t, got, c)
			// With its user, in one read.
			gotCode, gotUser, err := s.GetAuthCodeAndUser(ctx, c.Hash)
			if err != nil {
				t.Errorf("%s: GetAuthCodeAndUser: %v", tt.name, err)
				continue
			}
			checkAuthCode(t, gotCode, c)
			if want, _ := s.GetUser(ctx, c.UserUID); !reflect.DeepEqual(gotUser, want) {
				t.Errorf("%s: GetAuthCodeAndUser user = %+v, want %+v", tt.name, gotUser, want)
			}
		}
		c := p.code(uuid.NewString())
		mustCode(t, s, c)
		checkErrIs(t, "CreateAuthCode(duplicate hash)", s.CreateAuthCode(ctx, c), store.ErrConflict)
		_, err := s.GetAuthCode(ctx, hash())
		checkErrIs(t, "GetAuthCode(unknown)", err, store.ErrNotFound)
		_, _, err = s.GetAuthCodeAndUser(ctx, hash())
		checkErrIs(t, "GetAuthCodeAndUser(unknown)", err, store.ErrNotFound)
		bad := p.code("g")
		bad.ClientID = "no-such-client"
		if err := s.CreateAuthCode(ctx, bad); err == nil {
			t.Errorf("CreateAuthCode for unknown client succeeded")
		}
		bad = p.code("g")
		bad.UserUID = uuid.NewString()
		if err := s.CreateAuthCode(ctx, bad); err == nil {
			t.Errorf("CreateAuthCode for unknown user succeeded")
		}
	})

	parallel(t, "Redeem", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		tests := []struct {
			name       string
			withRefesh bool
		}{
			{"access and refresh", true},
			{"access only", false},
		}
		for _, tt := range tests {
			grant := uuid.NewString()
			c := mustCode(t, s, p.code(grant))
			acc := p.access(grant)
			var ref *store.RefreshToken
			if tt.withRefesh {
				r := p.refresh(grant)
				ref = &r
			}
			if err := s.RedeemAuthCode(ctx, c.Hash, at(2), &acc, ref); err != nil {
				t.Fatalf("%s: RedeemAuthCode: %v", tt.name, err)
			}
			got, err := s.GetAuthCode(ctx, c.Hash)
			if err != nil {
				t.Fatalf("%s: GetAuthCode: %v", tt.name, err)
			}
			c.UsedAt = at(2)
			checkAuthCode(t, got, c)
			gotA, err := s.GetAccessToken(ctx, acc.Hash)
			if err != nil {
				t.Fatalf("%s: GetAccessToken: %v", tt.name, err)
			}
			checkAccess(t, gotA, acc)
			if ref != nil {
				gotR, err := s.GetRefreshToken(ctx, ref.Hash)
				if err != nil {
					t.Fatalf("%s: GetRefreshToken: %v", tt.name, err)
				}
				checkRefresh(t, gotR, *ref)
				// With its user, in one read.
				gotR, gotU, err := s.GetRefreshTokenAndUser(ctx, ref.Hash)
				if err != nil {
					t.Fatalf("%s: GetRefreshTokenAndUser: %v", tt.name, err)
				}
				checkRefresh(t, gotR, *ref)
				if want, _ := s.GetUser(ctx, ref.UserUID); !reflect.DeepEqual(gotU, want) {
					t.Errorf("%s: GetRefreshTokenAndUser user = %+v, want %+v", tt.name, gotU, want)
				}
			}

			// Again: refused, nothing stored, first UsedAt kept.
			acc2, ref2 := p.access(grant), p.refresh(grant)
			err = s.RedeemAuthCode(ctx, c.Hash, at(3), &acc2, &ref2)
			checkErrIs(t, tt.name+": RedeemAuthCode again", err, store.ErrAlreadyUsed)
			_, err = s.GetAccessToken(ctx, acc2.Hash)
			checkErrIs(t, tt.name+": access token of refused redeem", err, store.ErrNotFound)
			_, err = s.GetRefreshToken(ctx, ref2.Hash)
			checkErrIs(t, tt.name+": refresh token of refused redeem", err, store.ErrNotFound)
			_, _, err = s.GetRefreshTokenAndUser(ctx, ref2.Hash)
			checkErrIs(t, tt.name+": refresh token and user of refused redeem", err, store.ErrNotFound)
			if got, err := s.GetAuthCode(ctx, c.Hash); err != nil {
				t.Fatalf("GetAuthCode: %v", err)
			} else {
				checkTime(t, tt.name+": UsedAt after refused redeem", got.UsedAt, at(2))
			}
		}

		// Unknown code: ErrNotFound, not ErrAlreadyUsed; nothing stored.
		acc, ref := p.access("g"), p.refresh("g")
		err := s.RedeemAuthCode(ctx, hash(), at(2), &acc, &ref)
		checkErrIs(t, "RedeemAuthCode(unknown)", err, store.ErrNotFound)
		if errors.Is(err, store.ErrAlreadyUsed) {
			t.Errorf("RedeemAuthCode(unknown) = %v, must not be ErrAlreadyUsed", err)
		}
		_, err = s.GetAccessToken(ctx, acc.Hash)
		checkErrIs(t, "access token of unknown code", err, store.ErrNotFound)
		_, err = s.GetRefreshToken(ctx, ref.Hash)
		checkErrIs(t, "refresh token of unknown code", err, store.ErrNotFound)

		// A failing insert rolls the claim back: the code stays unused.
		taken := mustAccess(t, s, p.access("other"))
		c := mustCode(t, s, p.code(uuid.NewString()))
		dupAcc := p.access(c.GrantID)
		dupAcc.Hash = taken.Hash
		checkErrIs(t, "RedeemAuthCode with taken access hash",
			s.RedeemAuthCode(ctx, c.Hash, at(2), &dupAcc, nil), store.ErrConflict)
		if got, err := s.GetAuthCode(ctx, c.Hash); err != nil || !got.UsedAt.IsZero() {
			t.Errorf("code after failed redeem: UsedAt = %v, %v; want zero", got.UsedAt, err)
		}
		if err := s.RedeemAuthCode(ctx, c.Hash, at(2), new(p.access(c.GrantID)), nil); err != nil {
			t.Errorf("RedeemAuthCode after failed attempt: %v", err)
		}
	})
}

// ---- access tokens ----

func testAccessTokens(t *testing.T, open Opener) {
	// Concurrent inserts (which a backend may gather into one statement):
	// every good token is stored, and each bad one (a taken hash, an
	// unknown client) fails alone with its own error.
	parallel(t, "ConcurrentCreate", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		taken := mustAccess(t, s, p.access(uuid.NewString()))
		const n = 48
		toks := make([]store.AccessToken, n)
		for i := range toks {
			toks[i] = p.access(uuid.NewString())
		}
		toks[7] = taken                      // duplicate hash
		toks[21].ClientID = "no-such-client" // foreign key
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range toks {
			wg.Go(func() {
				<-start
				errs[i] = s.CreateAccessToken(ctx, toks[i])
			})
		}
		close(start)
		wg.Wait()
		for i, a := range toks {
			switch i {
			case 7:
				checkErrIs(t, "concurrent CreateAccessToken(duplicate hash)", errs[i], store.ErrConflict)
			case 21:
				checkErrIs(t, "concurrent CreateAccessToken(unknown client)", errs[i], store.ErrNotFound)
				if _, err := s.GetAccessToken(ctx, a.Hash); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("token of an unknown client stored: %v", err)
				}
			default:
				if errs[i] != nil {
					t.Errorf("concurrent CreateAccessToken %d: %v", i, errs[i])
					continue
				}
				got, err := s.GetAccessToken(ctx, a.Hash)
				if err != nil {
					t.Errorf("token %d not stored: %v", i, err)
					continue
				}
				checkAccess(t, got, a)
			}
		}
	})
	parallel(t, "CreateGetRevoke", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		tests := []struct {
			name   string
			mutate func(a *store.AccessToken)
		}{
			{"user", func(a *store.AccessToken) {}},
			{"client_credentials", func(a *store.AccessToken) { a.UserUID, a.AuthTime = "", time.Time{} }},
			{"expired, no lists", func(a *store.AccessToken) { a.ExpiresAt, a.Scopes, a.Audiences = at(-1), nil, nil }},
		}
		toks := make([]store.AccessToken, len(tests))
		for i, tt := range tests {
			a := p.access(uuid.NewString())
			tt.mutate(&a)
			toks[i] = mustAccess(t, s, a)
			got, err := s.GetAccessToken(ctx, a.Hash)
			if err != nil {
				t.Errorf("%s: GetAccessToken: %v", tt.name, err)
				continue
			}
			checkAccess(t, got, a)
		}
		checkErrIs(t, "CreateAccessToken(duplicate hash)", s.CreateAccessToken(ctx, toks[0]), store.ErrConflict)
		for _, a := range toks {
			if ok, err := s.RevokeAccessToken(ctx, a.Hash); err != nil || !ok {
				t.Errorf("RevokeAccessToken = %v, %v; want true, nil", ok, err)
			}
			if ok, err := s.RevokeAccessToken(ctx, a.Hash); err != nil || ok {
				t.Errorf("RevokeAccessToken again = %v, %v; want false, nil", ok, err)
			}
			_, err := s.GetAccessToken(ctx, a.Hash)
			checkErrIs(t, "GetAccessToken(revoked)", err, store.ErrNotFound)
		}
		_, err := s.GetAccessToken(ctx, hash())
		checkErrIs(t, "GetAccessToken(unknown)", err, store.ErrNotFound)
		// A client or user that is not (or no longer) there is
		// ErrNotFound: another instance may have deleted an app this one
		// still has cached.
		bad := p.access("g")
		bad.UserUID = uuid.NewString()
		checkErrIs(t, "CreateAccessToken(unknown user)", s.CreateAccessToken(ctx, bad), store.ErrNotFound)
		bad = p.access("g")
		bad.ClientID = "no-such-client"
		checkErrIs(t, "CreateAccessToken(unknown client)", s.CreateAccessToken(ctx, bad), store.ErrNotFound)
		deleted := mustClient(t, s, newClient(p.org))
		if err := s.DeleteClient(ctx, deleted.ID); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		bad = p.access("g")
		bad.ClientID, bad.UserUID = deleted.ID, ""
		checkErrIs(t, "CreateAccessToken(deleted client)", s.CreateAccessToken(ctx, bad), store.ErrNotFound)
	})
}

// ---- refresh tokens ----

func testRefreshTokens(t *testing.T, open Opener) {
	parallel(t, "RoundTrip", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		never := p.refresh(uuid.NewString())
		never.ExpiresAt, never.AuthTime, never.Scopes = time.Time{}, time.Time{}, nil
		for _, r := range []store.RefreshToken{p.refresh(uuid.NewString()), never} {
			mustRefresh(t, s, p, r)
			got, err := s.GetRefreshToken(ctx, r.Hash)
			if err != nil {
				t.Fatalf("GetRefreshToken: %v", err)
			}
			checkRefresh(t, got, r)
		}
		_, err := s.GetRefreshToken(ctx, hash())
		checkErrIs(t, "GetRefreshToken(unknown)", err, store.ErrNotFound)
	})

	parallel(t, "Rotate", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		t0 := at(10)
		sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
		// Each case: a fresh family whose first token is rotated at t0,
		// then the same old token is presented again.
		tests := []struct {
			name  string
			grace time.Duration
			again time.Time
			ok    bool
		}{
			{"no grace", 0, sec(1), false},
			{"no grace, same instant", 0, t0, false},
			{"within grace", 30 * time.Second, sec(10), true},
			{"within grace, same instant", 30 * time.Second, t0, true},
			{"grace just not elapsed", 30 * time.Second, sec(30).Add(-time.Microsecond), true},
			{"grace exactly elapsed", 30 * time.Second, sec(30), false},
			{"after grace", 30 * time.Second, sec(31), false},
		}
		for _, tt := range tests {
			grant := uuid.NewString()
			old := mustRefresh(t, s, p, p.refresh(grant))
			acc1, ref1 := p.access(grant), p.refresh(grant)
			if err := s.RotateRefreshToken(ctx, old.Hash, t0, tt.grace, &acc1, ref1); err != nil {
				t.Fatalf("%s: first RotateRefreshToken: %v", tt.name, err)
			}
			for _, h := range []string{ref1.Hash} {
				if got, err := s.GetRefreshToken(ctx, h); err != nil {
					t.Fatalf("%s: GetRefreshToken(new): %v", tt.name, err)
				} else {
					checkRefresh(t, got, ref1)
				}
			}
			if got, err := s.GetAccessToken(ctx, acc1.Hash); err != nil {
				t.Fatalf("%s: GetAccessToken(new): %v", tt.name, err)
			} else {
				checkAccess(t, got, acc1)
			}

			acc2, ref2 := p.access(grant), p.refresh(grant)
			err := s.RotateRefreshToken(ctx, old.Hash, tt.again, tt.grace, &acc2, ref2)
			if tt.ok {
				if err != nil {
					t.Errorf("%s: second RotateRefreshToken: %v", tt.name, err)
				}
			} else {
				checkErrIs(t, tt.name+": second RotateRefreshToken", err, store.ErrAlreadyUsed)
			}
			_, err = s.GetAccessToken(ctx, acc2.Hash)
			checkExists(t, tt.name+": second access token", err, tt.ok)
			_, err = s.GetRefreshToken(ctx, ref2.Hash)
			checkExists(t, tt.name+": second refresh token", err, tt.ok)
			got, err := s.GetRefreshToken(ctx, old.Hash)
			if err != nil {
				t.Fatalf("%s: GetRefreshToken(old): %v", tt.name, err)
			}
			want := old
			want.UsedAt = t0 // the first use, whatever happened next
			checkRefresh(t, got, want)
		}

		// Unknown old token: ErrNotFound, nothing stored.
		acc, ref := p.access("g"), p.refresh("g")
		err := s.RotateRefreshToken(ctx, hash(), t0, time.Minute, &acc, ref)
		checkErrIs(t, "RotateRefreshToken(unknown)", err, store.ErrNotFound)
		_, err = s.GetAccessToken(ctx, acc.Hash)
		checkErrIs(t, "access token of unknown rotation", err, store.ErrNotFound)
		_, err = s.GetRefreshToken(ctx, ref.Hash)
		checkErrIs(t, "refresh token of unknown rotation", err, store.ErrNotFound)

		// A failing insert rolls the claim back: old stays unused.
		grant := uuid.NewString()
		old := mustRefresh(t, s, p, p.refresh(grant))
		dup := p.refresh(grant)
		dup.Hash = old.Hash
		checkErrIs(t, "RotateRefreshToken to a taken hash",
			s.RotateRefreshToken(ctx, old.Hash, t0, 0, new(p.access(grant)), dup), store.ErrConflict)
		if got, err := s.GetRefreshToken(ctx, old.Hash); err != nil || !got.UsedAt.IsZero() {
			t.Errorf("old after failed rotation: UsedAt = %v, %v; want zero", got.UsedAt, err)
		}
		if err := s.RotateRefreshToken(ctx, old.Hash, t0, 0, new(p.access(grant)), p.refresh(grant)); err != nil {
			t.Errorf("RotateRefreshToken after failed attempt: %v", err)
		}
	})
}

// ---- RevokeGrant ----

func testRevokeGrant(t *testing.T, open Opener) {
	parallel(t, "OnlyThatGrant", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		type fam struct {
			code     store.AuthCode
			accesses []store.AccessToken
			refresh  []store.RefreshToken
		}
		mk := func() fam {
			grant := uuid.NewString()
			f := fam{code: mustCode(t, s, p.code(grant))}
			a, r := p.access(grant), p.refresh(grant)
			if err := s.RedeemAuthCode(ctx, f.code.Hash, at(1), &a, &r); err != nil {
				t.Fatalf("RedeemAuthCode: %v", err)
			}
			a2, r2 := p.access(grant), p.refresh(grant)
			if err := s.RotateRefreshToken(ctx, r.Hash, at(2), 0, &a2, r2); err != nil {
				t.Fatalf("RotateRefreshToken: %v", err)
			}
			f.accesses = []store.AccessToken{a, a2}
			f.refresh = []store.RefreshToken{r, r2}
			return f
		}
		gone, stay := mk(), mk()
		if err := s.RevokeGrant(ctx, gone.code.GrantID); err != nil {
			t.Fatalf("RevokeGrant: %v", err)
		}
		for _, c := range []struct {
			f      fam
			exists bool
		}{{gone, false}, {stay, true}} {
			for _, a := range c.f.accesses {
				_, err := s.GetAccessToken(ctx, a.Hash)
				checkExists(t, "GetAccessToken", err, c.exists)
			}
			for _, r := range c.f.refresh {
				_, err := s.GetRefreshToken(ctx, r.Hash)
				checkExists(t, "GetRefreshToken", err, c.exists)
			}
			// The code stays, used: a replay is still recognized.
			got, err := s.GetAuthCode(ctx, c.f.code.Hash)
			if err != nil {
				t.Errorf("GetAuthCode: %v", err)
			} else {
				checkTime(t, "AuthCode.UsedAt", got.UsedAt, at(1))
			}
			checkErrIs(t, "RedeemAuthCode(revoked grant's code)",
				s.RedeemAuthCode(ctx, c.f.code.Hash, at(3), new(p.access(c.f.code.GrantID)), nil), store.ErrAlreadyUsed)
		}
		// Idempotent; unknown grants are fine.
		if err := s.RevokeGrant(ctx, gone.code.GrantID); err != nil {
			t.Errorf("RevokeGrant again: %v", err)
		}
		if err := s.RevokeGrant(ctx, uuid.NewString()); err != nil {
			t.Errorf("RevokeGrant(unknown): %v", err)
		}
		if err := s.RevokeGrant(ctx, "' OR 1=1--"); err != nil {
			t.Errorf("RevokeGrant(payload): %v", err)
		}
		for _, a := range stay.accesses {
			if _, err := s.GetAccessToken(ctx, a.Hash); err != nil {
				t.Errorf("GetAccessToken of other grant after payload: %v", err)
			}
		}
	})
}

// ---- expired codes and tokens (Retention) ----

func testExpiredTokens(t *testing.T, open Opener) {
	parallel(t, "ByExpiry", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		now := at(100)
		expiries := []struct {
			name    string
			expires time.Time
			gone    bool
		}{
			{"long expired", at(-600), true},
			{"expired a microsecond ago", now.Add(-time.Microsecond), true},
			{"expiring exactly now", now, false},
			{"valid", at(101), false},
		}
		type row struct {
			what string
			get  func() error
			gone bool
		}
		var rows []row
		deleted := 0
		for _, e := range expiries {
			if e.gone {
				deleted += 3 // a code, an access token, a refresh token
			}
			grant := uuid.NewString()
			c := p.code(grant)
			c.ExpiresAt = e.expires
			mustCode(t, s, c)
			a := p.access(grant)
			a.ExpiresAt = e.expires
			mustAccess(t, s, a)
			// The refresh token comes with a code and access token that
			// never expire before now.
			code := p.code(grant)
			code.ExpiresAt = at(1000)
			acc := p.access(grant)
			acc.ExpiresAt = at(1000)
			mustCode(t, s, code)
			r := p.refresh(grant)
			r.ExpiresAt = e.expires
			if err := s.RedeemAuthCode(ctx, code.Hash, at(0), &acc, &r); err != nil {
				t.Fatalf("RedeemAuthCode: %v", err)
			}
			rows = append(rows,
				row{e.name + ": code", func() error { _, err := s.GetAuthCode(ctx, c.Hash); return err }, e.gone},
				row{e.name + ": access token", func() error { _, err := s.GetAccessToken(ctx, a.Hash); return err }, e.gone},
				row{e.name + ": refresh token", func() error { _, err := s.GetRefreshToken(ctx, r.Hash); return err }, e.gone},
			)
		}
		// Never-expiring refresh token, also used: stays.
		grant := uuid.NewString()
		forever := p.refresh(grant)
		forever.ExpiresAt = time.Time{}
		code := p.code(grant)
		code.ExpiresAt = at(1000)
		mustCode(t, s, code)
		acc := p.access(grant)
		acc.ExpiresAt = at(1000)
		if err := s.RedeemAuthCode(ctx, code.Hash, at(0), &acc, &forever); err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		acc = p.access(grant)
		acc.ExpiresAt = at(1000)
		if err := s.RotateRefreshToken(ctx, forever.Hash, at(1), 0, &acc, p.refresh(grant)); err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		rows = append(rows, row{"never-expiring refresh token", func() error {
			_, err := s.GetRefreshToken(ctx, forever.Hash)
			return err
		}, false})

		n, err := deleteExpired(ctx, s, now, store.ExpiredAuthCodes, store.ExpiredAccessTokens, store.ExpiredRefreshTokens)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		if n != deleted {
			t.Errorf("DeleteExpired = %d, want %d", n, deleted)
		}
		for _, r := range rows {
			checkExists(t, r.what, r.get(), !r.gone)
		}
		if n, err := deleteExpired(ctx, s, now, store.ExpiredAuthCodes, store.ExpiredAccessTokens, store.ExpiredRefreshTokens); err != nil || n != 0 {
			t.Errorf("DeleteExpired again = %d, %v; want 0, nil", n, err)
		}
	})
}

// ---- consents ----

func testConsents(t *testing.T, open Opener) {
	parallel(t, "SaveGetDelete", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		other := mustClient(t, s, newClient(p.org))
		_, err := s.GetConsent(ctx, p.user.UID, p.client.ID)
		checkErrIs(t, "GetConsent before save", err, store.ErrNotFound)

		steps := []store.Consent{
			{UserUID: p.user.UID, ClientID: p.client.ID, Scopes: []string{"openid", "profile"}, GrantedAt: at(1)},
			{UserUID: p.user.UID, ClientID: p.client.ID, Scopes: []string{"openid", "offline_access", "tms"}, GrantedAt: at(2)},
			{UserUID: p.user.UID, ClientID: p.client.ID, Scopes: nil, GrantedAt: at(3)},
			{UserUID: p.user.UID, ClientID: p.client.ID, Scopes: slices.Clone(sqlPayloads), GrantedAt: at(4)},
		}
		bystander := store.Consent{UserUID: p.user.UID, ClientID: other.ID, Scopes: []string{"x"}, GrantedAt: at(0)}
		if err := s.SaveConsent(ctx, bystander); err != nil {
			t.Fatalf("SaveConsent(bystander): %v", err)
		}
		for i, c := range steps {
			if err := s.SaveConsent(ctx, c); err != nil {
				t.Fatalf("SaveConsent #%d: %v", i, err)
			}
			got, err := s.GetConsent(ctx, c.UserUID, c.ClientID)
			if err != nil {
				t.Fatalf("GetConsent #%d: %v", i, err)
			}
			checkConsent(t, got, c)
		}
		if err := s.RevokeAuthorization(ctx, p.user.UID, p.client.ID); err != nil {
			t.Fatalf("RevokeAuthorization: %v", err)
		}
		_, err = s.GetConsent(ctx, p.user.UID, p.client.ID)
		checkErrIs(t, "GetConsent(revoked)", err, store.ErrNotFound)
		checkErrIs(t, "RevokeAuthorization again", s.RevokeAuthorization(ctx, p.user.UID, p.client.ID), store.ErrNotFound)
		got, err := s.GetConsent(ctx, bystander.UserUID, bystander.ClientID)
		if err != nil {
			t.Fatalf("GetConsent(bystander): %v", err)
		}
		checkConsent(t, got, bystander)

		bad := bystander
		bad.UserUID = uuid.NewString()
		if err := s.SaveConsent(ctx, bad); err == nil {
			t.Errorf("SaveConsent for unknown user succeeded")
		}
		bad = bystander
		bad.ClientID = "no-such-client"
		if err := s.SaveConsent(ctx, bad); err == nil {
			t.Errorf("SaveConsent for unknown client succeeded")
		}
	})
}

// ---- signing keys ----

// activeKeys returns the active keys of alg.
func activeKeys(t *testing.T, s store.Store, alg string) []store.SigningKey {
	t.Helper()
	ks, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	var active []store.SigningKey
	for _, k := range ks {
		if k.Alg == alg && k.RetiredAt.IsZero() {
			active = append(active, k)
		}
	}
	return active
}

func testSigningKeys(t *testing.T, open Opener) {
	parallel(t, "EnsureRotateList", open, func(t *testing.T, ctx context.Context, s store.Store) {
		if ks, err := s.ListSigningKeys(ctx); err != nil || len(ks) != 0 {
			t.Fatalf("ListSigningKeys on empty store = %v, %v; want none", ks, err)
		}
		rs1 := newKey("RS256", at(0))
		got, err := s.EnsureSigningKey(ctx, rs1)
		if err != nil {
			t.Fatalf("EnsureSigningKey: %v", err)
		}
		checkKey(t, got, rs1)

		// Another RS256 key is not stored; the active one comes back.
		rs2 := newKey("RS256", at(1))
		if got, err = s.EnsureSigningKey(ctx, rs2); err != nil {
			t.Fatalf("EnsureSigningKey(second): %v", err)
		}
		checkKey(t, got, rs1)

		// Another algorithm gets its own key; RetiredAt and PublishedTo
		// of an ensured key are ignored.
		es := newKey("ES256", at(2))
		es.RetiredAt, es.PublishedTo = at(3), at(4)
		if got, err = s.EnsureSigningKey(ctx, es); err != nil {
			t.Fatalf("EnsureSigningKey(ES256): %v", err)
		}
		es.RetiredAt, es.PublishedTo = time.Time{}, time.Time{}
		checkKey(t, got, es)

		rs3 := newKey("RS256", at(5))
		if err := s.RotateSigningKey(ctx, rs3, at(6), at(60)); err != nil {
			t.Fatalf("RotateSigningKey: %v", err)
		}
		if got, err = s.EnsureSigningKey(ctx, newKey("RS256", at(7))); err != nil {
			t.Fatalf("EnsureSigningKey after rotation: %v", err)
		}
		checkKey(t, got, rs3)

		retired := rs1
		retired.RetiredAt, retired.PublishedTo = at(6), at(60)
		want := []store.SigningKey{rs3, es, retired} // newest first
		ks, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		if len(ks) != len(want) {
			t.Fatalf("ListSigningKeys returned %d keys, want %d: %+v", len(ks), len(want), ks)
		}
		for i := range want {
			checkKey(t, ks[i], want[i])
		}

		// Rotating again retires rs3 only; rs1 keeps its times.
		rs4 := newKey("RS256", at(8))
		if err := s.RotateSigningKey(ctx, rs4, at(9), at(90)); err != nil {
			t.Fatalf("RotateSigningKey again: %v", err)
		}
		ks, err = s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		rs3.RetiredAt, rs3.PublishedTo = at(9), at(90)
		want = []store.SigningKey{rs4, rs3, es, retired}
		if len(ks) != len(want) {
			t.Fatalf("ListSigningKeys returned %d keys, want %d", len(ks), len(want))
		}
		for i := range want {
			checkKey(t, ks[i], want[i])
		}

		// Rotating to a taken KID fails and changes nothing.
		dup := newKey("RS256", at(10))
		dup.KID = rs4.KID
		checkErrIs(t, "RotateSigningKey(taken KID)", s.RotateSigningKey(ctx, dup, at(10), at(100)), store.ErrConflict)
		if a := activeKeys(t, s, "RS256"); len(a) != 1 || a[0].KID != rs4.KID {
			t.Errorf("active RS256 keys after failed rotation = %+v, want only %s", a, rs4.KID)
		}
		if err := s.RotateSigningKey(ctx, newKey("RS256", at(10)), time.Time{}, at(100)); err == nil {
			t.Errorf("RotateSigningKey with zero at succeeded")
		}

		// First key of an algorithm by rotation: nothing to retire.
		ps := newKey("PS256", at(11))
		if err := s.RotateSigningKey(ctx, ps, at(11), at(12)); err != nil {
			t.Fatalf("RotateSigningKey(new alg): %v", err)
		}
		if a := activeKeys(t, s, "PS256"); len(a) != 1 || a[0].KID != ps.KID {
			t.Errorf("active PS256 keys = %+v, want only %s", a, ps.KID)
		}
	})

	parallel(t, "ListTieByKID", open, func(t *testing.T, ctx context.Context, s store.Store) {
		b := newKey("RS256", at(0))
		b.KID = "b"
		a := newKey("ES256", at(0))
		a.KID = "a"
		c := newKey("PS256", at(1))
		c.KID = "c"
		for _, k := range []store.SigningKey{b, c, a} {
			if _, err := s.EnsureSigningKey(ctx, k); err != nil {
				t.Fatalf("EnsureSigningKey: %v", err)
			}
		}
		ks, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		var kids []string
		for _, k := range ks {
			kids = append(kids, k.KID)
		}
		if !slices.Equal(kids, []string{"c", "a", "b"}) {
			t.Errorf("ListSigningKeys KIDs = %q, want [c a b]", kids)
		}
	})

	parallel(t, "DeleteUnpublished", open, func(t *testing.T, ctx context.Context, s store.Store) {
		now := at(100)
		tests := []struct {
			name         string
			publishUntil time.Time
			gone         bool
		}{
			{"long unpublished", at(-600), true},
			{"unpublished a microsecond ago", now.Add(-time.Microsecond), true},
			{"zero PublishedTo", time.Time{}, true},
			{"published until exactly now", now, false},
			{"still published", at(101), false},
		}
		keys := make([]store.SigningKey, len(tests))
		for i, tt := range tests {
			alg := fmt.Sprintf("ALG%d", i)
			keys[i] = newKey(alg, at(i))
			if _, err := s.EnsureSigningKey(ctx, keys[i]); err != nil {
				t.Fatalf("EnsureSigningKey: %v", err)
			}
			// Retire it; its successor stays active.
			if err := s.RotateSigningKey(ctx, newKey(alg, at(i+1)), at(i+1), tt.publishUntil); err != nil {
				t.Fatalf("RotateSigningKey: %v", err)
			}
		}
		n, err := s.DeleteUnpublishedKeys(ctx, now)
		if err != nil {
			t.Fatalf("DeleteUnpublishedKeys: %v", err)
		}
		if n != 3 {
			t.Errorf("DeleteUnpublishedKeys = %d, want 3", n)
		}
		ks, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		left := map[string]bool{}
		active := 0
		for _, k := range ks {
			left[k.KID] = true
			if k.RetiredAt.IsZero() {
				active++
			}
		}
		if active != len(tests) {
			t.Errorf("%d active keys left, want %d (active keys are never deleted)", active, len(tests))
		}
		for i, tt := range tests {
			if left[keys[i].KID] == tt.gone {
				t.Errorf("%s: key present = %v, want %v", tt.name, left[keys[i].KID], !tt.gone)
			}
		}
		if n, err := s.DeleteUnpublishedKeys(ctx, now); err != nil || n != 0 {
			t.Errorf("DeleteUnpublishedKeys again = %d, %v; want 0, nil", n, err)
		}
	})
}

// ---- concurrency ----

func testOAuthConcurrency(t *testing.T, open Opener) {
	parallel(t, "RedeemAuthCode", open, func(t *testing.T, ctx context.Context, s store.Store) {
		raceRedeem(t, []store.Store{s})
	})
	parallel(t, "RotateRefreshToken", open, func(t *testing.T, ctx context.Context, s store.Store) {
		raceRotate(t, []store.Store{s})
	})
	parallel(t, "EnsureSigningKey", open, func(t *testing.T, ctx context.Context, s store.Store) {
		raceEnsure(t, []store.Store{s})
	})

	parallel(t, "RotateRefreshTokenGrace", open, func(t *testing.T, ctx context.Context, s store.Store) {
		// With a grace period every concurrent presenter within it wins
		// (e.g. a client's parallel requests), and the first use is kept.
		p := mustParty(t, s)
		grant := uuid.NewString()
		old := mustRefresh(t, s, p, p.refresh(grant))
		var errs [workers]error
		race(func(i int) {
			errs[i] = s.RotateRefreshToken(ctx, old.Hash, at(1), time.Minute, new(p.access(grant)), p.refresh(grant))
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("RotateRefreshToken #%d: %v", i, err)
			}
		}
		if got, err := s.GetRefreshToken(ctx, old.Hash); err != nil {
			t.Fatalf("GetRefreshToken: %v", err)
		} else {
			checkTime(t, "UsedAt", got.UsedAt, at(1))
		}
	})

	parallel(t, "RevokeAccessToken", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		a := mustAccess(t, s, p.access("g"))
		var revoked [workers]bool
		race(func(i int) {
			var err error
			if revoked[i], err = s.RevokeAccessToken(ctx, a.Hash); err != nil {
				t.Errorf("RevokeAccessToken #%d: %v", i, err)
			}
		})
		if n := countTrue(revoked[:]); n != 1 {
			t.Errorf("RevokeAccessToken: %d callers revoked, want exactly 1", n)
		}
	})

	parallel(t, "RotateSigningKey", open, func(t *testing.T, ctx context.Context, s store.Store) {
		if _, err := s.EnsureSigningKey(ctx, newKey("RS256", at(0))); err != nil {
			t.Fatalf("EnsureSigningKey: %v", err)
		}
		race(func(i int) {
			if err := s.RotateSigningKey(ctx, newKey("RS256", at(1)), at(1+i), at(100)); err != nil {
				t.Errorf("RotateSigningKey #%d: %v", i, err)
			}
		})
		if a := activeKeys(t, s, "RS256"); len(a) != 1 {
			t.Errorf("%d active RS256 keys after concurrent rotations, want 1", len(a))
		}
		if ks, err := s.ListSigningKeys(ctx); err != nil || len(ks) != workers+1 {
			t.Errorf("ListSigningKeys = %d keys, %v; want %d", len(ks), err, workers+1)
		}
	})

	parallel(t, "DistinctWrites", open, func(t *testing.T, ctx context.Context, s store.Store) {
		// Every kind of OAuth write at once; none may fail.
		p := mustParty(t, s)
		race(func(i int) {
			grant := uuid.NewString()
			code := p.code(grant)
			ref := p.refresh(grant)
			ref2 := p.refresh(grant)
			steps := []struct {
				name string
				do   func() error
			}{
				{"CreateClient", func() error { return s.CreateClient(ctx, newClient(p.org)) }},
				{"UpdateClient", func() error { return s.UpdateClient(ctx, p.client) }},
				{"CreateAuthCode", func() error { return s.CreateAuthCode(ctx, code) }},
				{"RedeemAuthCode", func() error { return s.RedeemAuthCode(ctx, code.Hash, at(1), new(p.access(grant)), &ref) }},
				{"RotateRefreshToken", func() error {
					return s.RotateRefreshToken(ctx, ref.Hash, at(2), 0, new(p.access(grant)), ref2)
				}},
				{"CreateAccessToken", func() error { return s.CreateAccessToken(ctx, p.access(grant)) }},
				{"SaveConsent", func() error {
					return s.SaveConsent(ctx, store.Consent{UserUID: p.user.UID, ClientID: p.client.ID, GrantedAt: at(i)})
				}},
				{"EnsureSigningKey", func() error { _, err := s.EnsureSigningKey(ctx, newKey("ES256", at(0))); return err }},
				{"RotateSigningKey", func() error { return s.RotateSigningKey(ctx, newKey("RS256", at(i)), at(i), at(i+5)) }},
				{"DeleteUnpublishedKeys", func() error { _, err := s.DeleteUnpublishedKeys(ctx, at(0)); return err }},
				{"DeleteExpired", func() error {
					_, err := deleteExpired(ctx, s, at(0), store.ExpiredAuthCodes, store.ExpiredAccessTokens, store.ExpiredRefreshTokens)
					return err
				}},
				{"RevokeGrant", func() error { return s.RevokeGrant(ctx, grant) }},
			}
			for _, st := range steps {
				if err := st.do(); err != nil {
					t.Errorf("worker %d: %s: %v", i, st.name, err)
				}
			}
		})
		if a := activeKeys(t, s, "RS256"); len(a) != 1 {
			t.Errorf("%d active RS256 keys, want 1", len(a))
		}
		if a := activeKeys(t, s, "ES256"); len(a) != 1 {
			t.Errorf("%d active ES256 keys, want 1", len(a))
		}
	})
}

// raceRedeem: workers redeem one code at once, worker i through
// stores[i%len(stores)]. Exactly one succeeds, the rest get ErrAlreadyUsed,
// and only the winner's tokens exist.
func raceRedeem(t *testing.T, stores []store.Store) {
	t.Helper()
	ctx := t.Context()
	p := mustParty(t, stores[0])
	grant := uuid.NewString()
	code := mustCode(t, stores[0], p.code(grant))
	var (
		errs [workers]error
		accs [workers]store.AccessToken
		refs [workers]store.RefreshToken
	)
	for i := range workers {
		accs[i], refs[i] = p.access(grant), p.refresh(grant)
	}
	race(func(i int) {
		errs[i] = stores[i%len(stores)].RedeemAuthCode(ctx, code.Hash, at(1).Add(time.Duration(i)*time.Second), &accs[i], &refs[i])
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("RedeemAuthCode: both #%d and #%d succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrAlreadyUsed):
			t.Errorf("RedeemAuthCode #%d: error = %v, want nil or ErrAlreadyUsed", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("RedeemAuthCode: no caller succeeded")
	}
	access, refresh := 0, 0
	for i := range workers {
		s := stores[(i+1)%len(stores)]
		if _, err := s.GetAccessToken(ctx, accs[i].Hash); err == nil {
			access++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAccessToken: %v", err)
		}
		if _, err := s.GetRefreshToken(ctx, refs[i].Hash); err == nil {
			refresh++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRefreshToken: %v", err)
		}
	}
	if access != 1 || refresh != 1 {
		t.Errorf("RedeemAuthCode stored %d access and %d refresh tokens, want 1 and 1", access, refresh)
	}
	if _, err := stores[0].GetAccessToken(ctx, accs[winner].Hash); err != nil {
		t.Errorf("winner's access token: %v", err)
	}
	got, err := stores[0].GetAuthCode(ctx, code.Hash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	checkTime(t, "AuthCode.UsedAt", got.UsedAt, at(1).Add(time.Duration(winner)*time.Second))
}

// raceRotate: workers rotate one refresh token with no grace at once;
// exactly one succeeds and stores its new refresh token.
func raceRotate(t *testing.T, stores []store.Store) { raceRotateWith(t, stores, true) }

// raceRotateWith is raceRotate whose rotations store an access token row
// (withRow) or none (self-contained tokens).
func raceRotateWith(t *testing.T, stores []store.Store, withRow bool) {
	t.Helper()
	ctx := t.Context()
	p := mustParty(t, stores[0])
	grant := uuid.NewString()
	old := mustRefresh(t, stores[0], p, p.refresh(grant))
	var (
		errs [workers]error
		refs [workers]store.RefreshToken
	)
	for i := range workers {
		refs[i] = p.refresh(grant)
	}
	race(func(i int) {
		var access *store.AccessToken
		if withRow {
			access = new(p.access(grant))
		}
		errs[i] = stores[i%len(stores)].RotateRefreshToken(ctx, old.Hash, at(1), 0, access, refs[i])
	})
	checkOneWinner(t, "RotateRefreshToken", errs[:])
	checkOneStored(t, stores[0], "RotateRefreshToken", refs[:])
}

// raceEnsure: workers ensure a key of one algorithm at once, each offering
// its own; all get the same one, and exactly one is active.
func raceEnsure(t *testing.T, stores []store.Store) {
	t.Helper()
	ctx := t.Context()
	var (
		mu   sync.Mutex
		kids = map[string]int{}
	)
	race(func(i int) {
		k, err := stores[i%len(stores)].EnsureSigningKey(ctx, newKey("RS256", at(i)))
		if err != nil {
			t.Errorf("EnsureSigningKey #%d: %v", i, err)
			return
		}
		mu.Lock()
		kids[k.KID]++
		mu.Unlock()
	})
	if len(kids) != 1 {
		t.Errorf("EnsureSigningKey returned %d distinct keys, want 1: %v", len(kids), kids)
	}
	a := activeKeys(t, stores[0], "RS256")
	if len(a) != 1 {
		t.Fatalf("%d active RS256 keys, want exactly 1", len(a))
	}
	if kids[a[0].KID] != workers {
		t.Errorf("active key %s was returned to %d callers, want %d", a[0].KID, kids[a[0].KID], workers)
	}
	if ks, err := stores[0].ListSigningKeys(ctx); err != nil || len(ks) != 1 {
		t.Errorf("ListSigningKeys = %d keys, %v; want 1", len(ks), err)
	}
}

// MultiOpener returns n Stores on one fresh, empty database, as n processes
// would open it. The database must outlive t's cleanups registered after
// open returns (RunInstances closes the Stores in one).
type MultiOpener = func(t *testing.T, n int) []store.Store

// RunInstances checks the atomicity promises across Store instances on one
// database (the backend's stand-in for several processes): they migrate at
// once, then race RedeemAuthCode, RotateRefreshToken, EnsureSigningKey and
// RevokeAuthorization, each worker through one of the instances.
func RunInstances(t *testing.T, open MultiOpener) {
	const n = 2
	stores := open(t, n)
	t.Cleanup(func() {
		for i, s := range stores {
			if err := s.Close(); err != nil {
				t.Errorf("Close #%d: %v", i, err)
			}
		}
	})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Run("RedeemAuthCode", func(t *testing.T) { raceRedeem(t, stores) })
	t.Run("RotateRefreshToken", func(t *testing.T) { raceRotate(t, stores) })
	t.Run("RedeemAuthCodeSelfContained", func(t *testing.T) { raceRedeemSelfContained(t, stores) })
	t.Run("RotateRefreshTokenSelfContained", func(t *testing.T) { raceRotateSelfContained(t, stores) })
	t.Run("EnsureSigningKey", func(t *testing.T) { raceEnsure(t, stores) })
	t.Run("RevokeAuthorization", func(t *testing.T) { raceRevokeAuthorization(t, stores) })
	t.Run("TakeLease", func(t *testing.T) { raceLease(t, stores) })
	t.Run("RedeemPasswordReset", func(t *testing.T) { racePasswordReset(t, stores) })
}
