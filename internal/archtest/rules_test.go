package archtest

import (
	"slices"
	"strings"
	"testing"
)

// importRules are tolk's layers, as rules on the direct imports of
// non-test code. Tests may assemble whatever they need.
//
// Patterns starting with ./ are tolk's packages, relative to the module;
// others are standard library paths. A pattern ending in /... also
// matches the packages below it.
var importRules = []importRule{
	{
		name:   "handlers use no storage backend",
		pkgs:   []string{"./internal/handler/..."},
		forbid: []string{"./internal/store/..."},
		allow:  []string{"./internal/store"}, // the records and their errors
		why:    "a handler talks to domain services; which database sits behind them is the server's choice",
	},
	{
		name:   "the domain knows no HTTP",
		pkgs:   []string{"./internal/core/..."},
		forbid: []string{"net/http/...", "./internal/kit/httpx", "./internal/handler/...", "./internal/server/...", "./internal/cli/..."},
		why:    "services serve every dialect and the command line alike; request facts reach them through reqctx or as parameters",
	},
	{
		name:   "kits know no domain",
		pkgs:   []string{"./internal/kit/..."},
		forbid: []string{"./internal/core/...", "./internal/handler/...", "./internal/server/...", "./internal/cli/...", "./internal/store/..."},
		why:    "a kit is support without domain, usable by every layer; importing upward would make it part of one",
	},
	{
		name:   "the store imports nothing of tolk above it",
		pkgs:   []string{"./internal/store/..."},
		forbid: []string{"./..."},
		allow:  []string{"./internal/store/...", "./internal/kit/...", "./verify/..."},
		why:    "records and storage sit at the bottom; everything else depends on them, not the other way round",
	},
	{
		name:   "only commands and test utilities assemble the server",
		pkgs:   []string{"./..."},
		except: []string{"./cmd/...", "./internal/cli/...", "./internal/server/...", "./internal/testutil/..."},
		forbid: []string{"./internal/server/...", "./internal/cli/..."},
		why:    "server and cli wire every layer together; a package below them importing them would be a cycle in all but name",
	},
	{
		name:   "the public verify package stands alone",
		pkgs:   []string{"./verify/..."},
		forbid: []string{"./..."},
		allow:  []string{"./verify/...", "./internal/kit/..."},
		why:    "APIs outside tolk import verify; it may lean on kits, never carry tolk's domain, store or handlers with it",
	},
}

// handlerRule: handlers call services, never the store they wrap.
var handlerRule = callRule{
	name: "handlers do not call the store",
	pkgs: []string{"./internal/handler/..."},
	why:  "a page or endpoint that reaches past a service into the store skips what the service enforces (audit, limits, invalidation) and ties HTTP to storage",
}

// pending are violations whose fix is in progress: reported with t.Log
// instead of failing, and each one fails the test once it no longer
// occurs, so that the list only shrinks.
var pending = []violation{}

func TestLayers(t *testing.T) {
	g := loadGraph(t, moduleRoot(t))
	var got []violation
	for _, r := range importRules {
		got = append(got, r.check(g)...)
	}
	got = append(got, handlerRule.check(t, g)...)
	report(t, got, pending)
}

// TestCheckerCatchesViolations runs the rules on a module made to break
// each of them once (testdata/fixture), and on its allowed uses.
func TestCheckerCatchesViolations(t *testing.T) {
	g := loadGraph(t, "testdata/fixture")
	var got []string
	for _, r := range importRules {
		for _, v := range r.check(g) {
			got = append(got, v.String())
		}
	}
	for _, v := range handlerRule.check(t, g) {
		got = append(got, v.String())
	}
	want := []string{
		"handlers use no storage backend: ./internal/handler/web imports ./internal/store/sqlite",
		"the domain knows no HTTP: ./internal/core/identity imports net/http",
		"the domain knows no HTTP: ./internal/core/other imports ./internal/server",
		"kits know no domain: ./internal/kit/x imports ./internal/core/identity",
		"the store imports nothing of tolk above it: ./internal/store/postgres imports ./internal/core/identity",
		"only commands and test utilities assemble the server: ./internal/core/other imports ./internal/server",
		"the public verify package stands alone: ./verify imports ./internal/core/identity",
		"handlers do not call the store: ./internal/handler/web reads *identity.Service.Store (identity.Store) (web.go:22)",
		"handlers do not call the store: ./internal/handler/web calls store.Users.GetUser (web.go:22)",
		"handlers do not call the store: ./internal/handler/web reads *identity.Service.Store (identity.Store) (web.go:23)",
		"handlers do not call the store: ./internal/handler/web calls identity.Store.Count (web.go:23)",
		"handlers do not call the store: ./internal/handler/web reads *web.Handler.DB (*sqlite.DB) (web.go:24)",
		"handlers do not call the store: ./internal/handler/web calls store.Users.GetUser (web.go:25)",
		"handlers do not call the store: ./internal/handler/web calls *sqlite.DB.GetUser (web.go:26)",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations found:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
