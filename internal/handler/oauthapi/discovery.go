package oauthapi

import (
	"net/http"

	"github.com/tolk-project/tolk/internal/kit/httpx"
)

// Metadata is the OIDC Discovery / RFC 8414 document.
type Metadata struct {
	Issuer                                 string   `json:"issuer"`
	AuthorizationEndpoint                  string   `json:"authorization_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	UserinfoEndpoint                       string   `json:"userinfo_endpoint"`
	JWKSURI                                string   `json:"jwks_uri"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	ScopesSupported                        []string `json:"scopes_supported"`
	ResponseTypesSupported                 []string `json:"response_types_supported"`
	ResponseModesSupported                 []string `json:"response_modes_supported"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	SubjectTypesSupported                  []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported       []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods       []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods          []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported          []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                        []string `json:"claims_supported"`
	PromptValuesSupported                  []string `json:"prompt_values_supported"`
	UILocalesSupported                     []string `json:"ui_locales_supported,omitempty"`
	AuthorizationResponseIssParamSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsParameterSupported               bool     `json:"claims_parameter_supported"`
	RequestParameterSupported              bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported           bool     `json:"request_uri_parameter_supported"`
}

func (h *Handler) metadata() Metadata {
	iss := h.Authz.Config.Issuer
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	return Metadata{
		Issuer: iss, AuthorizationEndpoint: iss + "/oauth/authorize", TokenEndpoint: iss + "/oauth/token",
		UserinfoEndpoint: iss + "/userinfo", JWKSURI: iss + "/.well-known/jwks.json",
		IntrospectionEndpoint: iss + "/oauth/introspect", RevocationEndpoint: iss + "/oauth/revoke",
		ScopesSupported:                   h.Authz.Config.Scopes,
		ResponseTypesSupported:            []string{"code", "token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"},
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		GrantTypesSupported:               append(h.Authz.GrantTypes(), "implicit"),
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256", "ES256"},
		TokenEndpointAuthMethodsSupported: auth,
		IntrospectionEndpointAuthMethods:  auth,
		RevocationEndpointAuthMethods:     auth,
		CodeChallengeMethodsSupported:     []string{"S256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "c_hash",
			"name", "given_name", "family_name", "preferred_username", "updated_at", "email"},
		PromptValuesSupported:                  []string{"none", "login", "consent", "select_account"},
		AuthorizationResponseIssParamSupported: true,
	}
}

func (h *Handler) Discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, h.metadata())
}
