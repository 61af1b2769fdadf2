package twofactor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/tolk-project/tolk/internal/store"
)

// FuzzTOTPInput: whatever a user types as a TOTP code, normalization
// yields either nothing or exactly six ASCII digits (the input minus
// spaces), and matchStep accepts it only for a step within ±Skew of now
// whose code, computed independently, is exactly those digits.
func FuzzTOTPInput(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "12345", "1234567", "١٢٣٤٥٦", "12345a", "+12345", "-12345", "\t123456\n", "000000", ""} {
		f.Add(s, int64(1_790_000_000))
	}
	raw := []byte("12345678901234567890") // RFC 6238 Appendix B secret
	sec := b32.EncodeToString(raw)
	f.Fuzz(func(t *testing.T, code string, unix int64) {
		c := normalizeTOTP(code)
		if c != "" {
			if len(c) != Digits || strings.Trim(c, "0123456789") != "" || c != strings.ReplaceAll(strings.TrimSpace(code), " ", "") {
				t.Fatalf("normalizeTOTP(%q) = %q", code, c)
			}
		}
		// Keep the clock in a range where steps are positive.
		now := time.Unix(unix%(1<<40), 0)
		if unix < 0 {
			now = time.Unix(-unix%(1<<40), 0)
		}
		step, ok := matchStep(raw, c, now)
		if !ok {
			return
		}
		if d := step - Step(now); d < -Skew || d > Skew {
			t.Fatalf("code %q matched step %d, %d steps from now", c, step, d)
		}
		want, err := hotp.GenerateCodeCustom(sec, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil || want != c {
			t.Fatalf("code %q matched step %d whose code is %q", c, step, want)
		}
	})
}

// FuzzRecoveryInput: a typed recovery code normalizes to 16 lowercase
// base32 characters or is refused; normalization is idempotent and
// ignores case, hyphens and spaces; recoveryHash depends only on the
// normalized code.
func FuzzRecoveryInput(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "abcdefghijklmnop", "abcd-efgh-ijkl-mno1", "abcd-efgh-ijkl-mnop-q", "----", "aaaaaaaaaaaaaaa=", "ıbcd-efgh-ijkl-mnop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		c, ok := normalizeRecovery(code)
		if !ok {
			if c != "" {
				t.Fatalf("normalizeRecovery(%q) refused with %q", code, c)
			}
			return
		}
		if len(c) != 16 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("normalizeRecovery(%q) = %q", code, c)
		}
		if again, ok := normalizeRecovery(c); !ok || again != c {
			t.Fatalf("normalizeRecovery not idempotent: %q -> %q -> %q", code, c, again)
		}
		grouped := strings.ToUpper(c[0:4] + "-" + c[4:8] + " " + c[8:12] + "-" + c[12:16])
		if recoveryHash("u", grouped) != recoveryHash("u", code) {
			t.Fatalf("recoveryHash differs for %q and %q", code, grouped)
		}
	})
}

// usedSteps is a memStore that also records used TOTP steps.
type usedSteps struct {
	*memStore
	last map[string]int64
}

func (u *usedSteps) UseTOTPStep(_ context.Context, uid string, step int64) (bool, error) {
	if step <= u.last[uid] {
		return false, nil
	}
	u.last[uid] = step
	return true, nil
}

func (u *usedSteps) UseRecoveryCode(context.Context, string, string) (bool, error) { return false, nil }

// FuzzVerify: Service.Verify with any input for a user with an enabled
// second factor: the current code passes once, everything else (any
// other string, the replayed code) is ErrInvalidCode.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{"", "000000", "12345", " 081 804", "081804", "050471", "abcd-efgh-ijkl-mnop", "\x00\x00\x00\x00\x00\x00"} {
		f.Add(s)
	}
	// RFC 6238 Appendix B: at 1111111109 the SHA-1 code is 07081804
	// (six digits: 081804); 050471 is that of the next step.
	now := time.Unix(1111111109, 0)
	f.Fuzz(func(t *testing.T, code string) {
		svc, m := newService(t, now)
		st := &usedSteps{memStore: m, last: map[string]int64{}}
		svc.Store = st
		raw := []byte("12345678901234567890")
		sealed, err := svc.Sealer.Seal(raw, ad("u1"))
		if err != nil {
			t.Fatal(err)
		}
		m.tf["u1"] = store.TwoFactor{UserUID: "u1", SealedSecret: sealed, EnabledAt: now}
		_, valid := matchStep(raw, normalizeTOTP(code), now)
		err = svc.Verify(context.Background(), "u1", code)
		if valid != (err == nil) {
			t.Fatalf("Verify(%q) = %v, code valid: %v", code, err, valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("Verify(%q) = %v, want ErrInvalidCode", code, err)
		}
		if valid {
			if err := svc.Verify(context.Background(), "u1", code); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("replay of %q: %v", code, err)
			}
		}
	})
}

// TestFuzzVerifySeedsMatter: the seeds of FuzzVerify include codes that
// pass, so the fuzzer starts from both sides of the check.
func TestFuzzVerifySeedsMatter(t *testing.T) {
	raw := []byte("12345678901234567890")
	for _, c := range []string{" 081 804", "050471"} {
		if _, ok := matchStep(raw, normalizeTOTP(c), time.Unix(1111111109, 0)); !ok {
			t.Fatalf("seed %q is not a valid code", c)
		}
	}
}
