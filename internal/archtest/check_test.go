package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pkg is what `go list -json` tells of one package.
type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Export     string // the compiled export data, for go/types
	Standard   bool
	Module     *struct {
		Path string
		Main bool
	}
}

// graph is a module's packages and their dependencies.
type graph struct {
	module string          // the main module's path
	pkgs   map[string]*pkg // by import path, dependencies included
}

// ours returns the module's own packages, sorted.
func (g *graph) ours() []*pkg {
	var ps []*pkg
	for _, p := range g.pkgs {
		if p.Module != nil && p.Module.Main {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *pkg) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	return ps
}

// moduleRoot is the directory of tolk's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// loadGraph lists every package of the module in dir with its
// dependencies, compiled, so that their export data can be read.
func loadGraph(t *testing.T, dir string) *graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-export", "-json=ImportPath,Dir,GoFiles,Imports,Export,Standard,Module", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.Bytes())
	}
	g := &graph{pkgs: map[string]*pkg{}}
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		g.pkgs[p.ImportPath] = p
		if p.Module != nil && p.Module.Main {
			g.module = p.Module.Path
		}
	}
	if g.module == "" {
		t.Fatalf("go list in %s: no package of the main module", dir)
	}
	return g
}

// match reports whether the import path matches pattern: ./x is module's
// package x, anything else a path outside it; a trailing /... matches the
// packages below too.
func (g *graph) match(pattern, path string) bool {
	if rest, ok := strings.CutPrefix(pattern, "./"); ok {
		pattern = g.module
		if rest != "..." {
			pattern += "/" + rest
		} else {
			pattern += "/..."
		}
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func (g *graph) matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return g.match(p, path) })
}

// rel is path relative to the module, as the rules write it.
func (g *graph) rel(path string) string {
	if rest, ok := strings.CutPrefix(path, g.module+"/"); ok {
		return "./" + rest
	}
	if path == g.module {
		return "."
	}
	return path
}

// violation is one breach of a rule.
type violation struct {
	rule   string
	pkg    string // module-relative
	detail string // what was done: "imports net/http", "calls store.Users.GetUser"
	pos    string // where, for calls: file:line
}

func (v violation) String() string {
	s := fmt.Sprintf("%s: %s %s", v.rule, v.pkg, v.detail)
	if v.pos != "" {
		s += " (" + v.pos + ")"
	}
	return s
}

// importRule forbids the packages it governs some imports.
type importRule struct {
	name   string
	pkgs   []string // the packages it governs
	except []string // of those, the ones it does not
	forbid []string // the imports they may not have
	allow  []string // of those, the ones they may have after all
	why    string
}

func (r importRule) check(g *graph) []violation {
	var vs []violation
	for _, p := range g.ours() {
		if !g.matchAny(r.pkgs, p.ImportPath) || g.matchAny(r.except, p.ImportPath) {
			continue
		}
		for _, imp := range p.Imports {
			if g.matchAny(r.forbid, imp) && !g.matchAny(r.allow, imp) {
				vs = append(vs, violation{rule: r.name, pkg: g.rel(p.ImportPath), detail: "imports " + g.rel(imp)})
			}
		}
	}
	return vs
}

// callRule forbids the packages it governs to reach the store: to call a
// method of a storage interface or backend, or to read a field that holds
// one (a service's Store). The store's records (./internal/store's
// structs) and their methods stay allowed.
type callRule struct {
	name string
	pkgs []string
	why  string
}

func (r callRule) check(t *testing.T, g *graph) []violation {
	t.Helper()
	var vs []violation
	for _, p := range g.ours() {
		if !g.matchAny(r.pkgs, p.ImportPath) {
			continue
		}
		fset := token.NewFileSet()
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		conf := types.Config{Importer: importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
			dep, ok := g.pkgs[path]
			if !ok || dep.Export == "" {
				return nil, fmt.Errorf("no export data for %s", path)
			}
			return os.Open(dep.Export)
		})}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}
		for e, sel := range info.Selections {
			var detail string
			switch sel.Kind() {
			case types.MethodVal, types.MethodExpr:
				recv := sel.Obj().Type().(*types.Signature).Recv()
				if g.isStore(sel.Recv()) || recv != nil && g.isStore(recv.Type()) {
					detail = "calls " + typeName(recv.Type()) + "." + sel.Obj().Name()
				}
			case types.FieldVal:
				if g.isStore(sel.Type()) {
					detail = "reads " + typeName(sel.Recv()) + "." + sel.Obj().Name() + " (" + typeName(sel.Type()) + ")"
				}
			}
			if detail != "" {
				pos := fset.Position(e.Sel.Pos())
				vs = append(vs, violation{rule: r.name, pkg: g.rel(p.ImportPath), detail: detail,
					pos: fmt.Sprintf("%s:%d", filepath.Base(pos.Filename), pos.Line)})
			}
		}
	}
	return vs
}

// isStore reports whether t is storage: an interface of ./internal/store
// or below, an interface embedding one (a service's Store), or a type of
// a backend below ./internal/store. ./internal/store's records are not.
func (g *graph) isStore(t types.Type) bool {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.Obj().Pkg() == nil {
		return false
	}
	path := n.Obj().Pkg().Path()
	inStore := g.match("./internal/store/...", path)
	iface, ok := n.Underlying().(*types.Interface)
	if !ok {
		return inStore && !g.match("./internal/store", path)
	}
	if inStore {
		return true
	}
	for i := range iface.NumEmbeddeds() {
		if g.isStore(iface.EmbeddedType(i)) {
			return true
		}
	}
	return false
}

// typeName is t qualified by its package's name.
func typeName(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string { return p.Name() })
}

// report fails t for each violation not pending, logs the pending ones,
// and fails for each pending one that no longer occurs, so the list
// shrinks as they are fixed.
func report(t *testing.T, got, pending []violation) {
	t.Helper()
	key := func(v violation) string { v.pos = ""; return v.String() }
	slices.SortFunc(got, func(a, b violation) int { return strings.Compare(a.String(), b.String()) })
	seen := map[string]bool{}
	explained := map[string]bool{}
	for _, v := range got {
		k := key(v)
		seen[k] = true
		if slices.ContainsFunc(pending, func(p violation) bool { return key(p) == k }) {
			t.Logf("pending: %s", v)
			continue
		}
		if !explained[v.rule] {
			explained[v.rule] = true
			t.Errorf("%s\n\t(the rule's reason: %s)", v, why(v.rule))
			continue
		}
		t.Errorf("%s", v)
	}
	for _, p := range pending {
		if !seen[key(p)] {
			t.Errorf("pending violation no longer occurs, delete it from pending: %s", p)
		}
	}
}

// why is the reason of the rule named.
func why(rule string) string {
	for _, r := range importRules {
		if r.name == rule {
			return r.why
		}
	}
	if rule == handlerRule.name {
		return handlerRule.why
	}
	return ""
}
