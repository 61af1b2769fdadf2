package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// ClientSpec is what an admin registers.
type ClientSpec struct {
	OrgUID          string
	Name            string
	Description     string
	RedirectURIs    []string
	GrantTypes      []string // default: authorization_code, refresh_token
	Scopes          []string // default: the whole catalog
	Audiences       []string // default: every application
	Public          bool
	AdminConsent    bool
	JWTAccessTokens bool
	AlwaysRefresh   bool
}

// FieldError names the registration field that is wrong. Message is
// English, for the CLI and logs; Code (with Arg, the offending value when
// there is one) is what the web UI translates: catalog key apps.err.<Code>.
type FieldError struct{ Field, Message, Code, Arg string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

var registrableGrants = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials, oauth.GrantImplicit}

func (s *Service) normalize(spec *ClientSpec) error {
	spec.Name = strings.TrimSpace(spec.Name)
	switch {
	case spec.Name == "":
		return &FieldError{Field: "name", Message: "is required", Code: "name_required"}
	case utf8.RuneCountInString(spec.Name) > 200:
		return &FieldError{Field: "name", Message: "must be at most 200 characters", Code: "name_long"}
	case utf8.RuneCountInString(spec.Description) > 2000:
		return &FieldError{Field: "description", Message: "must be at most 2000 characters", Code: "description_long"}
	case !store.ValidText(spec.Name):
		return &FieldError{Field: "name", Message: "must be text without NUL", Code: "text_invalid"}
	case !store.ValidText(spec.Description):
		return &FieldError{Field: "description", Message: "must be text without NUL", Code: "text_invalid"}
	}
	if len(spec.GrantTypes) == 0 {
		spec.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	}
	spec.GrantTypes = uniq(spec.GrantTypes)
	for _, g := range spec.GrantTypes {
		if !slices.Contains(registrableGrants, g) {
			return &FieldError{Field: "grant_types", Message: fmt.Sprintf("unknown grant type %q", g), Code: "grant_unknown", Arg: g}
		}
	}
	if spec.Public && slices.Contains(spec.GrantTypes, oauth.GrantClientCredentials) {
		return &FieldError{Field: "grant_types", Message: "a public app cannot use client_credentials", Code: "public_client_credentials"}
	}
	browser := slices.Contains(spec.GrantTypes, oauth.GrantAuthorizationCode) || slices.Contains(spec.GrantTypes, oauth.GrantImplicit)
	uris := uniq(spec.RedirectURIs)
	if browser && len(uris) == 0 {
		return &FieldError{Field: "redirect_uris", Message: "at least one redirect URI is required for authorization_code or implicit", Code: "redirect_required"}
	}
	for _, u := range uris {
		if !store.ValidText(u) || !oauth.ValidRedirectURI(u) {
			return &FieldError{Field: "redirect_uris", Message: fmt.Sprintf("%q is not allowed: use https (http only on localhost), no fragment", u), Code: "redirect_invalid", Arg: u}
		}
	}
	spec.RedirectURIs = uris
	if len(spec.Scopes) == 0 {
		spec.Scopes = slices.Clone(s.Config.Scopes)
	}
	spec.Scopes = uniq(spec.Scopes)
	for _, sc := range spec.Scopes {
		if !slices.Contains(s.Config.Scopes, sc) {
			return &FieldError{Field: "scopes", Message: fmt.Sprintf("unknown scope %q", sc), Code: "scope_unknown", Arg: sc}
		}
	}
	if len(spec.Audiences) == 0 {
		spec.Audiences = slices.Clone(s.Config.Audiences)
	}
	spec.Audiences = uniq(spec.Audiences)
	for _, a := range spec.Audiences {
		if !slices.Contains(s.Config.Audiences, a) {
			return &FieldError{Field: "audiences", Message: fmt.Sprintf("unknown application %q", a), Code: "audience_unknown", Arg: a}
		}
	}
	return nil
}

func uniq(in []string) []string {
	var out []string
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// CreateClient registers an app. For a confidential app the secret is
// returned here and never again.
func (s *Service) CreateClient(ctx context.Context, spec ClientSpec) (store.Client, string, error) {
	if err := s.normalize(&spec); err != nil {
		return store.Client{}, "", err
	}
	if err := s.nameFree(ctx, spec.OrgUID, spec.Name, ""); err != nil {
		return store.Client{}, "", err
	}
	id, err := s.Gen.Alphanumeric(24)
	if err != nil {
		return store.Client{}, "", err
	}
	now := s.now()
	c := store.Client{
		ID: id, OrgUID: spec.OrgUID, Name: spec.Name, Description: spec.Description,
		RedirectURIs: spec.RedirectURIs, GrantTypes: spec.GrantTypes, Scopes: spec.Scopes, Audiences: spec.Audiences,
		Public: spec.Public, AdminConsent: spec.AdminConsent, JWTAccessTokens: spec.JWTAccessTokens, AlwaysRefresh: spec.AlwaysRefresh,
		CreatedAt: now, UpdatedAt: now,
	}
	var sec string
	if !spec.Public {
		if sec, err = s.Gen.Prefixed(secret.PrefixClientSecret); err != nil {
			return store.Client{}, "", err
		}
		c.SecretHash = secret.Hash(sec)
	}
	if err := s.Store.CreateClient(ctx, c); err != nil {
		return store.Client{}, "", err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.AppCreated, ClientID: c.ID, OrgUID: c.OrgUID, Details: map[string]string{"name": c.Name}})
	return c, sec, nil
}

// UpdateClient changes an app's registration; the secret stays.
func (s *Service) UpdateClient(ctx context.Context, id string, spec ClientSpec) (store.Client, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	spec.Public = c.Public // changing the client type would orphan or invent a secret
	if err := s.normalize(&spec); err != nil {
		return store.Client{}, err
	}
	// An app keeps the name it has even if another shares it (registered
	// before names had to differ); a new name must be free.
	if !strings.EqualFold(spec.Name, c.Name) {
		if err := s.nameFree(ctx, c.OrgUID, spec.Name, c.ID); err != nil {
			return store.Client{}, err
		}
	}
	c.Name, c.Description, c.RedirectURIs, c.GrantTypes = spec.Name, spec.Description, spec.RedirectURIs, spec.GrantTypes
	c.Scopes, c.Audiences, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh = spec.Scopes, spec.Audiences, spec.AdminConsent, spec.JWTAccessTokens, spec.AlwaysRefresh
	c.UpdatedAt = s.now()
	defer s.forgetClient(id)
	if err := s.Store.UpdateClient(ctx, c); err != nil {
		return c, err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.AppUpdated, ClientID: c.ID, OrgUID: c.OrgUID, Details: map[string]string{"name": c.Name}})
	return c, nil
}

// DeleteClient removes an app with everything issued to it.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if !store.ValidText(id) {
		return store.ErrNotFound
	}
	defer s.forgetClient(id)
	var org, name string
	if s.Audit != nil {
		if c, err := s.Store.GetClient(ctx, id); err == nil {
			org, name = c.OrgUID, c.Name
		}
	}
	defer s.Revocations.Revoked()
	// Another instance may still issue tokens to the app from its cache
	// until that expires: the cutoff covers those too.
	if err := s.Store.DeleteClient(ctx, id, s.cutoff(store.ClientCutoffKey(id), s.now().Add(s.Config.ClientCacheTTL))); err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.AppDeleted, ClientID: id, OrgUID: org, Details: map[string]string{"name": name}})
	return nil
}

// nameFree refuses a name that another app of the organization (not
// except) has, ignoring case and surrounding space: two apps called
// "Acme" and "acme " would be told apart by nobody on the consent page.
// It is a checked lookup, not a constraint: apps are registered by hand,
// by an organization's admins, and two admins racing to give two apps one
// name get two apps an edit can rename.
func (s *Service) nameFree(ctx context.Context, orgUID, name, except string) error {
	cs, err := s.Store.ListClients(ctx, orgUID)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID != except && strings.EqualFold(strings.TrimSpace(c.Name), name) {
			return &FieldError{Field: "name", Message: fmt.Sprintf("another app of the organization is called %q", c.Name), Code: "name_taken", Arg: name}
		}
	}
	return nil
}

// ErrPublicClient: a public app has no secret to rotate.
var ErrPublicClient = errors.New("authz: a public app has no secret")

// RotateClientSecret gives a confidential app a new secret and returns it,
// here and never again. The old secret stops at once: there is no grace
// period, because a rotation is most often made for a secret that leaked,
// and a grace would leave it working for whoever has it. On other
// instances the old secret may pass until their client cache expires
// (key_cache_interval), as every other change of an app. Tokens already
// issued stay valid until they expire (delete the app to end them);
// refresh tokens of a confidential app need the new secret to be used.
func (s *Service) RotateClientSecret(ctx context.Context, id string) (string, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", ErrPublicClient
	}
	sec, err := s.Gen.Prefixed(secret.PrefixClientSecret)
	if err != nil {
		return "", err
	}
	defer s.forgetClient(id)
	if err := s.Store.SetClientSecret(ctx, id, secret.Hash(sec), s.now()); err != nil {
		return "", err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.AppSecretRotated, ClientID: c.ID, OrgUID: c.OrgUID, Details: map[string]string{"name": c.Name}})
	return sec, nil
}

// ErrNoSuchClient is returned for an app that does not exist in the org.
var ErrNoSuchClient = errors.New("authz: no such app")

// ClientInOrg returns an app only if it belongs to orgUID.
func (s *Service) ClientInOrg(ctx context.Context, orgUID, id string) (store.Client, error) {
	c, err := s.getClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.OrgUID != orgUID) {
		return store.Client{}, ErrNoSuchClient
	}
	return c, err
}

// ClientsInOrg returns the apps of organization orgUID, oldest first.
func (s *Service) ClientsInOrg(ctx context.Context, orgUID string) ([]store.Client, error) {
	return s.Store.ListClients(ctx, orgUID)
}

// getClient reads the app a request names. An id that no backend could
// hold is not found without a query: PostgreSQL would answer it with an
// error, SQLite with no row (T43).
func (s *Service) getClient(ctx context.Context, id string) (store.Client, error) {
	if !store.ValidText(id) {
		return store.Client{}, store.ErrNotFound
	}
	return s.Store.GetClient(ctx, id)
}
