package signing

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzAccessClaimsJSON: an RFC 9068 access token's claims, written by their
// AppendJSON (what Sign signs), decode to the same value as json.Marshal
// of them, for any values: escaping, invalid UTF-8, nil and empty aud,
// omitted scope, auth_time and org_uid, any integer.
func FuzzAccessClaimsJSON(f *testing.F) {
	f.Add("https://id.example.com", "6f1c3e2a-1111", "tms\x00strings", true, int64(1795000000), int64(1794985601),
		"0123abcd", "client-1", "read write", int64(1794985000), "org-1")
	f.Add("\"<>&\\", "\xff\u2028", "", false, int64(-1), int64(0), "", "", "", int64(0), "")
	f.Fuzz(func(t *testing.T, iss, sub, aud string, audSet bool, exp, iat int64, jti, clientID, scope string, authTime int64, org string) {
		c := AccessClaims{Issuer: iss, Subject: sub, Expiry: exp, IssuedAt: iat, JTI: jti, ClientID: clientID,
			Scope: scope, AuthTime: authTime, OrgUID: org}
		if audSet {
			c.Audience = strings.Split(aud, "\x00")
		}
		got := c.AppendJSON([]byte("x"))[1:]
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := decodeValue(t, got), decodeValue(t, want); !reflect.DeepEqual(g, w) {
			t.Fatalf("AppendJSON wrote %s, encoding/json %s", got, want)
		}
	})
}

func decodeValue(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		t.Fatalf("not one JSON value: %s: %v", b, err)
	}
	return v
}
