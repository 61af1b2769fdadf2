// Package reqctx carries what the server knows about one request — the
// client's address, the request id and the user acting — in a
// context.Context, so that domain code reads these facts without knowing
// HTTP. httpx's middleware fills them; anything else that serves a
// request (a test, a command) can attach its own with WithInfo.
package reqctx

import (
	"context"
	"fmt"
	"sync"
)

// Info is what is known of a request before it is served.
type Info struct {
	ClientIP  string // the client's address, resolved behind trusted proxies
	RequestID string // the id of the request in the logs
}

// Request holds the facts of one request. Info is written before the
// request is served and only read afterwards; the actor is named while
// it is served (SetActor), so it has a lock of its own.
type Request struct {
	Info

	actorMu  sync.Mutex
	actor    string
	language string // the acting user's own choice of language, if any
}

// SetActor names uid as the user the request acts for.
func (r *Request) SetActor(uid string) {
	r.actorMu.Lock()
	r.actor = uid
	r.actorMu.Unlock()
}

// SetActorLanguage records the language the acting user chose for
// themselves (a BCP 47 tag; "" for none).
func (r *Request) SetActorLanguage(tag string) {
	r.actorMu.Lock()
	r.language = tag
	r.actorMu.Unlock()
}

// ActorLanguage returns the language SetActorLanguage recorded, or "".
func (r *Request) ActorLanguage() string {
	r.actorMu.Lock()
	defer r.actorMu.Unlock()
	return r.language
}

// Actor returns the user SetActor named, or "".
func (r *Request) Actor() string {
	r.actorMu.Lock()
	defer r.actorMu.Unlock()
	return r.actor
}

type key struct{}

// Context is a parent context carrying one Request: what
// context.WithValue would make, as a type that middleware can embed in
// a request state of its own, so the request's facts cost no allocation
// of their own.
type Context struct {
	context.Context // the parent
	Request
}

// Value returns the request for this package's key, else the parent's
// value.
func (c *Context) Value(k any) any {
	if k == (key{}) {
		return &c.Request
	}
	return c.Context.Value(k)
}

// String names the context as context.WithValue's would be named.
func (c *Context) String() string { return fmt.Sprint(c.Context) + ".WithValue(reqctx.Request)" }

// WithInfo returns a child of parent carrying a new Request with info.
func WithInfo(parent context.Context, info Info) context.Context {
	return &Context{Context: parent, Request: Request{Info: info}}
}

// RequestOf returns the request ctx carries, or nil.
func RequestOf(ctx context.Context) *Request {
	r, _ := ctx.Value(key{}).(*Request)
	return r
}

// From returns the Info of the request ctx carries; the zero Info if it
// carries none.
func From(ctx context.Context) Info {
	if r := RequestOf(ctx); r != nil {
		return r.Info
	}
	return Info{}
}

// SetActor names uid as the user ctx's request acts for (the web UI does
// once it has resolved the session), so that services record who acted
// without taking it as a parameter. Without a request it does nothing.
func SetActor(ctx context.Context, uid string) {
	if r := RequestOf(ctx); r != nil {
		r.SetActor(uid)
	}
}

// Actor returns the user SetActor named for ctx's request, or "".
func Actor(ctx context.Context) string {
	if r := RequestOf(ctx); r != nil {
		return r.Actor()
	}
	return ""
}

// SetActorLanguage records, for ctx's request, the language the acting
// user chose in their profile, which the UI prefers to the browser's
// (SPEC §5). Without a request it does nothing.
func SetActorLanguage(ctx context.Context, tag string) {
	if r := RequestOf(ctx); r != nil {
		r.SetActorLanguage(tag)
	}
}

// ActorLanguage returns the language SetActorLanguage recorded for ctx's
// request, or "".
func ActorLanguage(ctx context.Context) string {
	if r := RequestOf(ctx); r != nil {
		return r.ActorLanguage()
	}
	return ""
}
