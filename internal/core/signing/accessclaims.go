package signing

// AccessClaims are the claims of an RFC 9068 JWT access token, as tolk
// issues them from the token endpoint and from the token exchange. They
// write their own JSON (JSONAppender), the same object as json.Marshal of
// them (FuzzAccessClaimsJSON).
type AccessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	// AuthTime is when the user signed in; absent for tokens no sign-in
	// made (client_credentials, the exchange).
	AuthTime int64  `json:"auth_time,omitempty"`
	OrgUID   string `json:"org_uid,omitempty"`
}

// JWTID implements Claims.
func (c AccessClaims) JWTID() string { return c.JTI }

// AppendJSON implements JSONAppender.
func (c AccessClaims) AppendJSON(dst []byte) []byte {
	o := NewJSONObject(dst)
	o.String("iss", c.Issuer)
	o.String("sub", c.Subject)
	o.Strings("aud", c.Audience)
	o.Int("exp", c.Expiry)
	o.Int("iat", c.IssuedAt)
	o.String("jti", c.JTI)
	o.String("client_id", c.ClientID)
	if c.Scope != "" {
		o.String("scope", c.Scope)
	}
	if c.AuthTime != 0 {
		o.Int("auth_time", c.AuthTime)
	}
	if c.OrgUID != "" {
		o.String("org_uid", c.OrgUID)
	}
	return o.Close()
}
