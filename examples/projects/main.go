// Command projects is an example API behind tolk: a small "projects"
// service of a translation platform that verifies every request with the
// public verify package.
//
//	GET  /projects          application tms,     scope read
//	POST /projects          application tms,     scope write
//	GET  /strings/projects  application strings, scope read
//	POST /strings/projects  application strings, scope write
//
// Run it beside tolk:
//
//	TOLK_ISSUER=http://127.0.0.1:8080 go run ./examples/projects -addr 127.0.0.1:8090
//
// JWTs (exchanged Platform JWTs, OAuth JWT access tokens) are verified
// locally against tolk's JWKS; ApiTokens, PATs, API keys and opaque OAuth
// tokens through tolk's /auth/verify, cached for at most 5 s.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/tolk-project/tolk/verify"
)

// Project is one translation project.
type Project struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	App       string `json:"app"`
	CreatedBy string `json:"created_by"` // the subject that created it
	OrgUID    string `json:"org_uid"`
}

// api is the service: projects in memory, per application.
type api struct {
	mu       sync.Mutex
	projects []Project
}

// newHandler mounts the routes behind v.
func newHandler(v *verify.Verifier) http.Handler {
	a := &api{}
	mux := http.NewServeMux()
	for _, app := range []struct{ prefix, audience string }{{"", "tms"}, {"/strings", "strings"}} {
		read := v.Middleware(verify.Require{Audience: app.audience, Scopes: []string{"read"}})
		write := v.Middleware(verify.Require{Audience: app.audience, Scopes: []string{"write"}})
		mux.Handle("GET "+app.prefix+"/projects", read(a.list(app.audience)))
		mux.Handle("POST "+app.prefix+"/projects", write(a.create(app.audience)))
	}
	return mux
}

func (a *api) list(app string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := verify.FromContext(r.Context())
		a.mu.Lock()
		out := []Project{}
		for _, pr := range a.projects {
			if pr.App == app && pr.OrgUID == p.OrgUID {
				out = append(out, pr)
			}
		}
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	}
}

func (a *api) create(app string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := verify.FromContext(r.Context())
		var in struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil || in.Name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a JSON body with a name is required"})
			return
		}
		a.mu.Lock()
		pr := Project{ID: len(a.projects) + 1, Name: in.Name, App: app, CreatedBy: p.Subject, OrgUID: p.OrgUID}
		a.projects = append(a.projects, pr)
		a.mu.Unlock()
		writeJSON(w, http.StatusCreated, pr)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	issuer := flag.String("issuer", os.Getenv("TOLK_ISSUER"), "tolk's issuer URL")
	flag.Parse()
	v, err := verify.New(verify.Config{Issuer: *issuer})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: newHandler(v), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("projects API on http://%s, verifying with %s", *addr, *issuer)
	log.Fatal(srv.ListenAndServe())
}
