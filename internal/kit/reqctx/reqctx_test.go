package reqctx_test

import (
	"context"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/reqctx"
)

// TestFacts: the facts attached to a context are read from it and from
// contexts derived from it; a context without them reads as zero.
func TestFacts(t *testing.T) {
	info := reqctx.Info{ClientIP: "192.0.2.1", RequestID: "r1"}
	ctx := reqctx.WithInfo(context.Background(), info)
	derived, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if got := reqctx.From(derived); got != info {
		t.Errorf("From = %+v, want %+v", got, info)
	}
	reqctx.SetActor(derived, "user-1")
	if got := reqctx.Actor(ctx); got != "user-1" {
		t.Errorf("Actor = %q, want the one set through a derived context", got)
	}
	bare := context.Background()
	reqctx.SetActor(bare, "user-1") // no request: nothing to name
	if reqctx.From(bare) != (reqctx.Info{}) || reqctx.Actor(bare) != "" || reqctx.RequestOf(bare) != nil {
		t.Error("a context without a request has facts")
	}
}

// TestContextPassesThrough: the parent's values, deadline and
// cancellation pass through a Context.
func TestContextPassesThrough(t *testing.T) {
	type k struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), k{}, "v"))
	ctx := reqctx.WithInfo(parent, reqctx.Info{})
	if ctx.Value(k{}) != "v" {
		t.Error("parent value lost")
	}
	cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the parent did not reach the request's context")
	}
}
