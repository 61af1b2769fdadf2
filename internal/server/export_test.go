package server

import (
	"net/http"
	"reflect"
	"runtime"
	"strings"
)

// Route is a row of the routes table as tests see it: the pattern and the
// name of the method that serves it ("tms.(*Handler).Login"), or "" for a
// handler that is not a method value.
type Route struct{ Pattern, Method string }

// Mux returns the mux inside s.Handler's middleware.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Routes returns s's routes table.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.routeTable {
		out = append(out, Route{r.pattern, methodName(r.handler)})
	}
	return out
}

func methodName(h http.Handler) string {
	f, ok := h.(http.HandlerFunc)
	if !ok {
		return ""
	}
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	name = strings.TrimSuffix(name, "-fm") // a method value's wrapper
	return name[strings.LastIndex(name, "/")+1:]
}
