package authn

import "testing"

func TestSchemeFoldingIsASCIIOnly(t *testing.T) {
	if m, _, err := parseAuthorization("TOKEN " + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"); err != nil || m != MethodPAT {
		t.Fatalf("upper-case scheme: %v %v", m, err)
	}
	if _, _, err := parseAuthorization("to\u212Aen 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"); err == nil {
		t.Fatal("a Kelvin sign passed for the letter k in the scheme")
	}
}
