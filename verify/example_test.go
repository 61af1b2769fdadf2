package verify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tolk-project/tolk/verify"
)

// A service mounts the middleware per route: the tms application, scope
// write. Here a stand-in for tolk's /auth/verify accepts one PAT with the
// read scope; in production VerifyURL and JWKSURL default to the issuer's.
func Example() {
	tolk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "token 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h := w.Header()
		h.Set("X-Auth-Subject", "5f0c…uid")
		h.Set("X-Auth-User", "lena")
		h.Set("X-Auth-Method", "pat")
		h.Set("X-Auth-Scopes", "read")
		w.WriteHeader(http.StatusOK)
	}))
	defer tolk.Close()

	v, err := verify.New(verify.Config{Issuer: tolk.URL})
	if err != nil {
		panic(err)
	}
	projects := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := verify.FromContext(r.Context())
		fmt.Fprintf(w, "projects of %s (%s)", p.UserName, p.Method)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /projects", v.Middleware(verify.Require{Audience: "tms", Scopes: []string{"read"}})(projects))
	mux.Handle("POST /projects", v.Middleware(verify.Require{Audience: "tms", Scopes: []string{"write"}})(projects))
	api := httptest.NewServer(mux)
	defer api.Close()

	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, api.URL+"/projects", nil)
		req.Header.Set("Authorization", "token 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(fmt.Sprintln(method, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))))
		if resp.StatusCode == http.StatusOK {
			fmt.Println(string(body))
		}
	}
	resp, err := http.Get(api.URL + "/projects")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("GET", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	// Output:
	// GET 200
	// projects of lena (pat)
	// POST 403 Bearer realm="tolk", error="insufficient_scope", error_description="the token lacks a required scope", scope="write"
	// GET 401 Bearer realm="tolk"
}
