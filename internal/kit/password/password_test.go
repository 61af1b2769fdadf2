package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cheap keeps the tests fast; production uses OWASP.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h := NewHasher(cheap, 2, nil)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("not a PHC argon2id string: %s", enc)
	}
	if rehash, err := h.Verify(ctx, "correct horse", enc); err != nil || rehash {
		t.Fatalf("Verify = %v, %v", rehash, err)
	}
	if _, err := h.Verify(ctx, "wrong", enc); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	enc2, _ := h.Hash(ctx, "correct horse")
	if enc2 == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestOWASPDefaults(t *testing.T) {
	h := NewHasher(OWASP, 1, nil)
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("got %s", enc)
	}
}

func TestNeedsRehashWhenParamsChange(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(cheap, 1, nil)
	enc, _ := old.Hash(ctx, "pw")
	stronger := cheap
	stronger.Time = 2
	cur := NewHasher(stronger, 1, nil)
	rehash, err := cur.Verify(ctx, "pw", enc)
	if err != nil || !rehash {
		t.Fatalf("Verify under new params = %v, %v; want rehash", rehash, err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h := NewHasher(cheap, 1, nil)
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if _, err := h.Verify(context.Background(), "pw", enc); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, want ErrMalformed", enc, err)
		}
	}
}

func TestVerifyDummyAlwaysFails(t *testing.T) {
	h := NewHasher(cheap, 1, nil)
	for _, pw := range []string{"", "tolk-dummy", "x"} {
		if err := h.VerifyDummy(context.Background(), pw); !errors.Is(err, ErrMismatch) {
			t.Fatalf("VerifyDummy(%q) = %v", pw, err)
		}
	}
}

func TestPoolBoundsConcurrency(t *testing.T) {
	// Occupy every slot, then check that a further hash waits and honours
	// its context instead of running.
	h := NewHasher(cheap, 2, nil)
	h.slots <- struct{}{}
	h.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with a full pool = %v, want deadline exceeded", err)
	}
	<-h.slots
	<-h.slots

	// Under load, never more than the pool size run at once.
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = h.acquire(context.Background())
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			h.release()
		}()
	}
	wg.Wait()
	if peak.Load() > 2 {
		t.Fatalf("peak concurrency %d exceeds pool of 2", peak.Load())
	}
}
