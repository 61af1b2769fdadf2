package authn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/kit/reqctx"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// TestAuthenticateDispatchesByMethod: each method reaches its dialect's
// verifier with the credential's value (bearer and jwt the access-token
// verifier); a dialect not offered and a verifier's failure are *Error
// naming the method, the former wrapping ErrInvalid.
func TestAuthenticateDispatchesByMethod(t *testing.T) {
	var got []string
	verifier := func(name string) authn.VerifyFunc {
		return func(_ context.Context, v string) (authn.Principal, error) {
			got = append(got, name+":"+v)
			if v == "bad" {
				return authn.Principal{}, authn.ErrInvalid
			}
			return authn.Principal{Principal: verify.Principal{ClientID: "c"}}, nil
		}
	}
	a := &authn.Authenticator{APIToken: verifier("apitoken"), AccessToken: verifier("access"), PAT: verifier("pat"), APIKey: verifier("apikey")}
	ctx := context.Background()
	for m, want := range map[verify.Method]string{
		verify.MethodAPIToken: "apitoken:x", verify.MethodBearer: "access:x", verify.MethodJWT: "access:x",
		verify.MethodPAT: "pat:x", verify.MethodAPIKey: "apikey:x",
	} {
		got = nil
		if _, err := a.Authenticate(ctx, verify.Credential{Method: m, Value: "x"}); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: called %v (%v), want %s", m, got, err, want)
		}
	}
	var e *authn.Error
	_, err := a.Authenticate(ctx, verify.Credential{Method: verify.MethodPAT, Value: "bad"})
	if !errors.As(err, &e) || e.Method != verify.MethodPAT || !errors.Is(err, verify.ErrInvalid) {
		t.Errorf("failed PAT: %v", err)
	}
	_, err = (&authn.Authenticator{}).Authenticate(ctx, verify.Credential{Method: verify.MethodAPIKey, Value: "x"})
	if !errors.As(err, &e) || e.Method != verify.MethodAPIKey || !errors.Is(err, verify.ErrInvalid) {
		t.Errorf("dialect not offered: %v", err)
	}
}

// TestPrincipalNamesItsUser: the subject and names of a principal are its
// user's; a token without a user is its client.
func TestPrincipalNamesItsUser(t *testing.T) {
	u := &store.User{UID: "u1", UserName: "lena", Email: "lena@example.com", FirstName: "Lena", LastName: "K"}
	a := &authn.Authenticator{
		PAT: func(context.Context, string) (authn.Principal, error) {
			return authn.Principal{User: u, Principal: verify.Principal{Method: verify.MethodPAT}}, nil
		},
		AccessToken: func(context.Context, string) (authn.Principal, error) {
			return authn.Principal{Principal: verify.Principal{ClientID: "app", Method: verify.MethodBearer}}, nil
		},
	}
	p, err := a.Authenticate(context.Background(), verify.Credential{Method: verify.MethodPAT, Value: "x"})
	want := verify.Principal{Subject: "u1", UserUID: "u1", UserName: "lena", Email: "lena@example.com", Name: "Lena K", Method: verify.MethodPAT}
	if err != nil || p.Subject != want.Subject || p.UserUID != want.UserUID || p.UserName != want.UserName ||
		p.Email != want.Email || p.Name != want.Name || p.User != u {
		t.Errorf("user principal %+v (%v), want %+v", p, err, want)
	}
	p, err = a.Authenticate(context.Background(), verify.Credential{Method: verify.MethodBearer, Value: "x"})
	if err != nil || p.Subject != "app" || p.UserUID != "" || p.User != nil {
		t.Errorf("client principal %+v (%v), want subject app and no user", p, err)
	}
}

// TestFailuresCountPerClientAddress: invalid credentials spend the client
// address's budget (read from reqctx); past it the address is throttled
// before any lookup, and another address is not.
func TestFailuresCountPerClientAddress(t *testing.T) {
	lookups := 0
	a := &authn.Authenticator{
		PAT: func(context.Context, string) (authn.Principal, error) {
			lookups++
			return authn.Principal{}, authn.ErrInvalid
		},
		Failures: ratelimit.NewFailures(2, time.Hour, time.Now),
	}
	c := verify.Credential{Method: verify.MethodPAT, Value: "x"}
	from := func(ip string) context.Context {
		return reqctx.WithInfo(context.Background(), reqctx.Info{ClientIP: ip})
	}
	for range 2 {
		if _, err := a.Authenticate(from("192.0.2.1"), c); !errors.Is(err, authn.ErrInvalid) {
			t.Fatalf("bad credential: %v", err)
		}
	}
	var th *authn.ThrottledError
	if _, err := a.Authenticate(from("192.0.2.1"), c); !errors.As(err, &th) || lookups != 2 {
		t.Errorf("third failure: %v after %d lookups, want throttled after 2", err, lookups)
	}
	if _, err := a.Authenticate(from("192.0.2.2"), c); errors.As(err, &th) || lookups != 3 {
		t.Errorf("another address: %v after %d lookups, want a lookup", err, lookups)
	}
}
