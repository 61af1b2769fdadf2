// Package twofactor is tolk's TOTP second factor (RFC 6238): enrolment
// with a QR code, verification of codes with replay protection, and
// single-use recovery codes. It knows nothing of HTTP or passwords; the
// identity service combines it with the password check and the failure
// limits, and the web UI drives enrolment.
//
// Security (SECURITY.md T34, T35, T39):
//   - the shared secret is 160 random bits from crypto/rand (RFC 4226
//     §4 R6), stored sealed (AES-GCM, associated data binding it to the
//     user uid, so a sealed value copied to another user does not open);
//   - a code is accepted for the current time step ±1 (RFC 6238 §5.2),
//     each (user, step) at most once: the store advances the user's last
//     accepted step with one conditional UPDATE, in the database so that it
//     holds across instances, and a code of that step or an earlier one is
//     refused;
//   - candidate codes are compared in constant time, all three of them;
//   - recovery codes (80 random bits each) are stored only as a SHA-256
//     keyed by the user uid and used up by an atomic delete.
//
// Throttling of wrong codes is the caller's (identity counts them as failed
// logins).
package twofactor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Parameters of the TOTP codes: the defaults every authenticator app
// understands (SHA-1, 6 digits, 30 s).
const (
	Period      = 30 // seconds per time step
	Digits      = 6
	Skew        = 1  // steps accepted either side of the current one
	SecretBytes = 20 // 160 bits (RFC 4226 §4 R6)
	// RecoveryCodes is how many recovery codes enabling makes.
	RecoveryCodes = 10
	recoveryBytes = 10 // 80 bits per recovery code
)

// Errors of the service.
var (
	// ErrInvalidCode: wrong, expired, replayed or malformed code.
	ErrInvalidCode = errors.New("twofactor: invalid code")
	// ErrAlreadyEnabled: the user's second factor is already on.
	ErrAlreadyEnabled = errors.New("twofactor: already enabled")
	// ErrNotEnrolling: there is no pending enrolment to confirm (none was
	// begun, or another one replaced it).
	ErrNotEnrolling = errors.New("twofactor: no pending enrolment")
	// ErrNotEnabled: the user has no second factor to disable.
	ErrNotEnabled = errors.New("twofactor: not enabled")
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Service implements the second factor.
type Service struct {
	Store  store.TwoFactors
	Sealer *seal.Sealer
	Gen    secret.Generator // its Rand, if set, feeds secrets and recovery codes
	Now    func() time.Time
	// Issuer names the service in authenticator apps ("tolk" if empty).
	Issuer string
	// Audit, if set, records enabling, disabling and recovery-code use.
	Audit *audit.Recorder
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) rand() io.Reader {
	if s.Gen.Rand != nil {
		return s.Gen.Rand
	}
	return rand.Reader
}

// ad is the associated data that binds a sealed secret to its user.
func ad(userUID string) []byte { return []byte("tolk totp secret v1\x00" + userUID) }

// Status is what the settings page shows.
type Status struct {
	Enabled       bool
	EnabledAt     time.Time
	RecoveryCodes int // unused recovery codes left
}

// Status returns the user's second-factor status.
func (s *Service) Status(ctx context.Context, userUID string) (Status, error) {
	t, err := s.Store.GetTwoFactor(ctx, userUID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !t.Enabled() {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	n, err := s.Store.CountRecoveryCodes(ctx, userUID)
	if err != nil {
		return Status{}, err
	}
	return Status{Enabled: true, EnabledAt: t.EnabledAt, RecoveryCodes: n}, nil
}

// Enabled reports whether the user has the second factor on.
func (s *Service) Enabled(ctx context.Context, userUID string) (bool, error) {
	t, err := s.Store.GetTwoFactor(ctx, userUID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.Enabled(), nil
}

// Enrolment is what the user needs to add the account to an authenticator
// app. Secret is the base32 secret (shown beside the QR code for typing);
// URL is the otpauth:// URI the QR code holds; QRCode is that QR code as a
// PNG data: URI.
type Enrolment struct {
	Secret string
	URL    string
	QRCode string
}

// BeginEnrolment returns the user's pending enrolment, starting one with
// a fresh secret if there is none. ErrAlreadyEnabled if the second factor
// is already on.
func (s *Service) BeginEnrolment(ctx context.Context, u store.User) (Enrolment, error) {
	t, err := s.Store.GetTwoFactor(ctx, u.UID)
	switch {
	case err == nil && t.Enabled():
		return Enrolment{}, ErrAlreadyEnabled
	case err == nil:
		raw, err := s.Sealer.Open(t.SealedSecret, ad(u.UID))
		if err != nil {
			return Enrolment{}, fmt.Errorf("twofactor: open secret: %w", err)
		}
		return s.enrolment(u, raw)
	case !errors.Is(err, store.ErrNotFound):
		return Enrolment{}, err
	}
	raw := make([]byte, SecretBytes)
	if _, err := io.ReadFull(s.rand(), raw); err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: reading randomness: %w", err)
	}
	sealed, err := s.Sealer.Seal(raw, ad(u.UID))
	if err != nil {
		return Enrolment{}, err
	}
	err = s.Store.BeginTwoFactor(ctx, store.TwoFactor{UserUID: u.UID, SealedSecret: sealed, CreatedAt: s.now()})
	if errors.Is(err, store.ErrConflict) {
		return Enrolment{}, ErrAlreadyEnabled
	}
	if err != nil {
		return Enrolment{}, err
	}
	return s.enrolment(u, raw)
}

func (s *Service) enrolment(u store.User, raw []byte) (Enrolment, error) {
	issuer := s.Issuer
	if issuer == "" {
		issuer = "tolk"
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: u.UserName, Secret: raw,
		Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: key: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("twofactor: QR code: %w", err)
	}
	return Enrolment{
		Secret: key.Secret(),
		URL:    key.URL(),
		QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// Enable confirms the pending enrolment with a code from the app and
// returns the recovery codes, to be shown this once. The confirming code's
// time step counts as used.
func (s *Service) Enable(ctx context.Context, u store.User, code string) ([]string, error) {
	t, err := s.Store.GetTwoFactor(ctx, u.UID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNotEnrolling
	case err != nil:
		return nil, err
	case t.Enabled():
		return nil, ErrAlreadyEnabled
	}
	raw, err := s.Sealer.Open(t.SealedSecret, ad(u.UID))
	if err != nil {
		return nil, fmt.Errorf("twofactor: open secret: %w", err)
	}
	step, ok := matchStep(raw, normalizeTOTP(code), s.Now())
	if !ok {
		return nil, ErrInvalidCode
	}
	codes := make([]string, RecoveryCodes)
	hashes := make([]string, RecoveryCodes)
	for i := range codes {
		if codes[i], err = s.newRecoveryCode(); err != nil {
			return nil, err
		}
		hashes[i] = recoveryHash(u.UID, codes[i])
	}
	err = s.Store.EnableTwoFactor(ctx, u.UID, t.SealedSecret, step, s.now(), hashes)
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, ErrAlreadyEnabled
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNotEnrolling
	case err != nil:
		return nil, err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.TwoFactorEnabled, ActorUID: u.UID, OrgUID: u.OrgUID})
	return codes, nil
}

// Disable turns the second factor off and discards the recovery codes.
// The caller checks the password first.
func (s *Service) Disable(ctx context.Context, userUID string) error {
	err := s.Store.DisableTwoFactor(ctx, userUID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotEnabled
	}
	if err == nil {
		s.Audit.Record(ctx, audit.Event{Type: audit.TwoFactorDisabled, SubjectUID: userUID})
	}
	return err
}

// Verify checks a second-factor code of a user whose second factor is
// enabled: a TOTP code (6 digits, spaces ignored) of the current step ±1
// not accepted before, or an unused recovery code, which it uses up. Any
// other input, a replay included, is ErrInvalidCode.
func (s *Service) Verify(ctx context.Context, userUID, code string) error {
	t, err := s.Store.GetTwoFactor(ctx, userUID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !t.Enabled() {
		return ErrInvalidCode
	}
	if err != nil {
		return err
	}
	if c := normalizeTOTP(code); len(c) == Digits {
		raw, err := s.Sealer.Open(t.SealedSecret, ad(userUID))
		if err != nil {
			return fmt.Errorf("twofactor: open secret: %w", err)
		}
		step, ok := matchStep(raw, c, s.Now())
		if !ok {
			return ErrInvalidCode
		}
		// Atomic in the database: of two requests with the same code
		// (or any code of an earlier step) only the first gets through.
		used, err := s.Store.UseTOTPStep(ctx, userUID, step)
		if err != nil {
			return err
		}
		if !used {
			return ErrInvalidCode
		}
		return nil
	}
	rc, ok := normalizeRecovery(code)
	if !ok {
		return ErrInvalidCode
	}
	used, err := s.Store.UseRecoveryCode(ctx, userUID, recoveryHash(userUID, rc))
	if err != nil {
		return err
	}
	if !used {
		return ErrInvalidCode
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.RecoveryCodeUsed, SubjectUID: userUID})
	return nil
}

// Step returns the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// matchStep returns the step in [now-Skew, now+Skew] whose code is code.
// Every candidate is computed and compared in constant time, so the time
// taken does not depend on which step (if any) matched.
func matchStep(raw []byte, code string, now time.Time) (int64, bool) {
	if len(code) != Digits {
		return 0, false
	}
	sec := b32.EncodeToString(raw)
	cur := Step(now)
	var (
		found int64
		ok    bool
	)
	for d := int64(-Skew); d <= Skew; d++ {
		want, err := hotp.GenerateCodeCustom(sec, uint64(cur+d), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if secret.Equal(want, code) {
			found, ok = cur+d, true
		}
	}
	return found, ok
}

// normalizeTOTP drops the spaces apps show in the middle of a code. The
// result is a candidate only if it is all digits.
func normalizeTOTP(code string) string {
	c := strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(c) != Digits {
		return ""
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return ""
		}
	}
	return c
}

// Recovery codes are 16 lowercase base32 characters, shown in groups of
// four ("abcd-efgh-ijkl-mnop"); hyphens, spaces and case do not matter
// when one is entered.
func (s *Service) newRecoveryCode() (string, error) {
	b := make([]byte, recoveryBytes)
	if _, err := io.ReadFull(s.rand(), b); err != nil {
		return "", fmt.Errorf("twofactor: reading randomness: %w", err)
	}
	c := strings.ToLower(b32.EncodeToString(b))
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16], nil
}

func normalizeRecovery(code string) (string, bool) {
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	// Only the lowercase base32 alphabet: a byte-length check alone lets
	// multi-byte letters through ("ı" upper-cases to "I").
	if len(c) != 16 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		return "", false
	}
	return c, true
}

// recoveryHash keys the hash by the user, so equal codes of two users
// (however unlikely) are different rows and a hash cannot be tried
// against every user at once.
func recoveryHash(userUID, code string) string {
	c, _ := normalizeRecovery(code)
	return secret.Hash("tolk recovery v1\x00" + userUID + "\x00" + c)
}
