package server_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/handler/forwardauth"
	"github.com/tolk-project/tolk/internal/handler/oauthapi"
	"github.com/tolk-project/tolk/internal/handler/stringsapi"
	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/handler/web"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestRoutesTable: the routes table is tolk's whole HTTP surface. Every
// pattern is served by the server's handler (no pattern is shadowed or
// left out), none is listed twice, and every exported endpoint method of a
// dialect's handler appears in it, so an endpoint cannot be added beside
// the table.
func TestRoutesTable(t *testing.T) {
	s := tolktest.New(t)
	routes := s.Tolk.Routes()
	if len(routes) < 50 {
		t.Fatalf("only %d routes", len(routes))
	}
	seen := map[string]bool{}
	served := map[string]bool{}
	for _, r := range routes {
		if seen[r.Pattern] {
			t.Errorf("%s listed twice", r.Pattern)
		}
		seen[r.Pattern] = true
		served[r.Method] = true

		// The server's mux must resolve a request of this shape to this
		// very pattern.
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = strings.NewReplacer("{$}", "", "{id}", "x1", "{uid}", "x1").Replace(path)
		if strings.HasSuffix(path, "/") && path != "/" {
			path += "x"
		}
		req := httptest.NewRequest(method, path, nil)
		if _, pattern := s.Tolk.Mux().Handler(req); pattern != r.Pattern {
			t.Errorf("%s %s is served by %q, not by its row %q", method, path, pattern, r.Pattern)
		}
	}

	rw := reflect.TypeFor[http.ResponseWriter]()
	rq := reflect.TypeFor[*http.Request]()
	for _, h := range []any{&tms.Handler{}, &stringsapi.Handler{}, &oauthapi.Handler{}, &forwardauth.Handler{}, &web.Handler{}} {
		typ := reflect.TypeOf(h)
		pkg := typ.Elem().PkgPath()
		pkg = pkg[strings.LastIndex(pkg, "/")+1:]
		for m := range typ.Methods() {
			if m.Type.NumIn() == 3 && m.Type.In(1) == rw && m.Type.In(2) == rq {
				name := pkg + ".(*Handler)." + m.Name
				if !served[name] {
					t.Errorf("%s is an endpoint method but not in the routes table", name)
				}
			}
		}
	}
	if !slices.ContainsFunc(routes, func(r server.Route) bool { return r.Method == "tms.(*Handler).Login" }) {
		t.Error("method names not recognised; the check above proves nothing")
	}
}
