package passwordpolicy

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// code is the Code of err's Violation, "" for nil; it fails the test for
// an error of another type.
func code(t testing.TB, err error) Code {
	t.Helper()
	if err == nil {
		return ""
	}
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("error %v (%T) is not a *Violation", err, err)
	}
	return v.Code
}

const (
	user  = "maximilian.mustermann"
	email = "Max.Mustermann@example.org"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name      string
		min       int
		userName  string
		email     string
		password  string
		want      Code
		wantLimit int
	}{
		// Length, in code points after NFC.
		{name: "11 characters", password: "vH7#kq2Lx9z", want: TooShort, wantLimit: 12},
		{name: "12 characters", password: "vH7#kq2Lx9zW"},
		{name: "empty", password: "", want: TooShort, wantLimit: 12},
		{name: "custom minimum, one short", min: 16, password: "vH7#kq2Lx9zWp4T", want: TooShort, wantLimit: 16},
		{name: "custom minimum reached", min: 16, password: "vH7#kq2Lx9zWp4Tm"},
		{name: "minimum below the floor counts as the floor", min: 4, password: "vH7#kq2", want: TooShort, wantLimit: MinLengthFloor},
		{name: "floor reached", min: 4, password: "vH7#kq2L"},
		{name: "12 two-byte letters are 12 characters", password: strings.Repeat("ü", 12)},
		{name: "11 two-byte letters are too short though 22 bytes", password: strings.Repeat("ü", 11), want: TooShort, wantLimit: 12},
		{name: "12 four-byte emoji", password: strings.Repeat("🦊", 12)},
		{name: "decomposed accents count once (NFC)", password: strings.Repeat("e\u0301", 11), want: TooShort, wantLimit: 12},
		{name: "decomposed accents, 12 after NFC", password: strings.Repeat("e\u0301", 12)},
		{name: "combining mark without composition counts", password: strings.Repeat("q\u0301", 6)},

		// The upper bound, in bytes, before anything else.
		{name: "MaxBytes", password: strings.Repeat("a1b2", MaxBytes/4)},
		{name: "MaxBytes+1", password: strings.Repeat("a1b2", MaxBytes/4) + "c", want: TooLong, wantLimit: MaxBytes},
		{name: "MaxBytes+1 of two-byte letters", password: strings.Repeat("ü", MaxBytes/2) + "x", want: TooLong, wantLimit: MaxBytes},
		{name: "a megabyte", password: strings.Repeat("x", 1<<20), want: TooLong, wantLimit: MaxBytes},

		// Not the user name, ignoring case.
		{name: "user name", userName: user, password: user, want: IsUserName},
		{name: "user name in other case", userName: user, password: "Maximilian.MUSTERMANN", want: IsUserName},
		{name: "user name decomposed", userName: "jürgen.müller.x", password: "ju\u0308rgen.mu\u0308ller.X", want: IsUserName},
		{name: "user name plus a character", userName: user, password: user + "!"},
		{name: "no user name given", userName: "", password: "vH7#kq2Lx9zW"},

		// Not the email address nor its local part, ignoring case.
		{name: "email", email: email, password: email, want: IsEmail},
		{name: "email in other case", email: email, password: "max.mustermann@EXAMPLE.ORG", want: IsEmail},
		{name: "local part", email: email, password: "max.mustermann", want: IsEmail},
		{name: "local part of a quoted address with @", email: `"a@b"long.local@example.org`, password: `"A@B"long.local`, want: IsEmail},
		{name: "domain is no rule", email: email, password: "www.example.org"},
		{name: "email without @", email: "verylongname12", password: "VeryLongName12", want: IsEmail},

		// Not a common password, ignoring case.
		{name: "common", password: "password1234", want: Common},
		{name: "common upper case", password: "PASSWORD1234", want: Common},
		{name: "common mixed case", password: "QwErTy123456", want: Common},
		{name: "common keyboard walk", password: "1qaz2wsx3edc", want: Common},
		{name: "common 13 characters", password: "administrator", want: Common},
		{name: "common with a minimum of 8", min: 8, password: "iloveyou", want: Common},
		{name: "common with a minimum of 8, 9 characters", min: 8, password: "Sunshine1", want: Common},
		{name: "common but too short: length first", password: "password", want: TooShort, wantLimit: 12},
		{name: "common plus a character", password: "password1234!"},

		// Order: the user name is reported before the list.
		{name: "user name that is common", userName: "password1234", password: "password1234", want: IsUserName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Policy{MinLength: tc.min}.Check(tc.userName, tc.email, tc.password)
			if got := code(t, err); got != tc.want {
				t.Fatalf("Check(%q, %q, %.40q) = %v, want %q", tc.userName, tc.email, tc.password, err, tc.want)
			}
			if err != nil {
				if v := err.(*Violation); v.Limit != tc.wantLimit {
					t.Fatalf("Limit = %d, want %d", v.Limit, tc.wantLimit)
				}
			}
		})
	}
}

func TestMinimumLength(t *testing.T) {
	if DefaultMinLength != 12 {
		t.Fatalf("DefaultMinLength = %d; SPEC §8 says 12", DefaultMinLength)
	}
	for _, tc := range []struct{ set, want int }{{0, 12}, {-5, 8}, {4, 8}, {8, 8}, {12, 12}, {20, 20}} {
		if got := (Policy{MinLength: tc.set}).MinimumLength(); got != tc.want {
			t.Errorf("MinLength %d: MinimumLength() = %d, want %d", tc.set, got, tc.want)
		}
	}
}

func TestCheckChange(t *testing.T) {
	cases := []struct {
		name, current, proposed string
		want                    Code
	}{
		{"same", "correct horse battery", "correct horse battery", SameAsCurrent},
		{"same after NFC", "cafe\u0301 horse battery", "caf\u00e9 horse battery", SameAsCurrent},
		{"differs in case only", "correct horse battery", "Correct Horse Battery", ""},
		{"differs but common", "correct horse battery", "password1234", Common},
		{"differs but too short", "correct horse battery", "short", TooShort},
		{"differs but the user name", "correct horse battery", user, IsUserName},
		{"differs", "correct horse battery", "correct horse battery staple", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Policy{}.CheckChange(user, email, tc.current, tc.proposed)
			if got := code(t, err); got != tc.want {
				t.Fatalf("CheckChange(%q → %q) = %v, want %q", tc.current, tc.proposed, err, tc.want)
			}
		})
	}
}

// randomPassword draws n characters from the printable ASCII range.
func randomPassword(t testing.TB, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&*+-=?@^_~"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func TestRandomPasswordIsAccepted(t *testing.T) {
	for range 100 {
		pw := randomPassword(t, 16)
		if err := (Policy{}).Check(user, email, pw); err != nil {
			t.Fatalf("random %q: %v", pw, err)
		}
	}
}

// Entries known to be in zxcvbn's list, of at least 12 characters: the
// default policy refuses each, in any case.
func TestWellKnownCommonPasswordsAreRefused(t *testing.T) {
	for _, pw := range []string{"password1234", "qwerty123456", "123456qwerty", "1qaz2wsx3edc", "qazwsxedcrfv",
		"123qweasdzxc", "q1w2e3r4t5y6", "123456654321", "112233445566", "administrator", "finalfantasy", "leavemealone"} {
		for _, variant := range []string{pw, strings.ToUpper(pw), strings.ToUpper(pw[:1]) + pw[1:]} {
			if got := code(t, Policy{}.Check("", "", variant)); got != Common {
				t.Errorf("%q: got %q, want %q", variant, got, Common)
			}
		}
	}
}

func TestShippedList(t *testing.T) {
	words := commonList()
	if len(words) < 10000 {
		t.Fatalf("%d words; the list shrank", len(words))
	}
	shortest := MaxBytes
	for i, w := range words {
		if i > 0 && words[i-1] >= w {
			t.Fatalf("not sorted and unique at %d: %q, %q", i, words[i-1], w)
		}
		if w != strings.ToLower(Normalize(w)) {
			t.Fatalf("%q is not lower-case NFC", w)
		}
		shortest = min(shortest, len([]rune(w)))
	}
	// gencommon.go keeps what the length rule does not refuse already.
	if shortest != MinLengthFloor {
		t.Fatalf("shortest entry has %d characters, want MinLengthFloor = %d", shortest, MinLengthFloor)
	}
}

func TestViolationError(t *testing.T) {
	var err error = &Violation{Code: TooShort, Limit: 12}
	if got, want := err.Error(), "The password must have at least 12 characters."; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var v *Violation
	if !errors.As(err, &v) || v.MessageKey() != "password.policy.too_short" || len(v.MessageArgs()) != 1 || v.MessageArgs()[0] != 12 {
		t.Fatalf("key %q args %v", v.MessageKey(), v.MessageArgs())
	}
	if args := (&Violation{Code: Common}).MessageArgs(); args != nil {
		t.Fatalf("Common has args %v", args)
	}
}

// FuzzCheck: Check never panics, returns nil or a *Violation of a known
// code, and never accepts a password shorter than the minimum, longer than
// MaxBytes, equal to the user name, or on the list.
func FuzzCheck(f *testing.F) {
	f.Add("admin", "admin@example.org", "password1234", 0)
	f.Add("maximilian.m", "", "MAXIMILIAN.M", 12)
	f.Add("", "", "e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301", 8)
	f.Add("", "x@y", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4", -3)
	f.Add("", "", strings.Repeat("ü", 600), 1<<30)
	f.Fuzz(func(t *testing.T, userName, email, password string, minLength int) {
		p := Policy{MinLength: minLength}
		err := p.Check(userName, email, password)
		if err != nil {
			if _, ok := english[code(t, err)]; !ok {
				t.Fatalf("unknown code in %v", err)
			}
			return
		}
		want := minLength
		switch {
		case want == 0:
			want = DefaultMinLength
		case want < MinLengthFloor:
			want = MinLengthFloor
		}
		pw := Normalize(password)
		if n := len([]rune(pw)); n < want {
			t.Fatalf("accepted %q: %d characters, MinLength %d", password, n, minLength)
		}
		if len(password) > MaxBytes {
			t.Fatalf("accepted %d bytes", len(password))
		}
		if userName != "" && strings.EqualFold(pw, Normalize(userName)) {
			t.Fatalf("accepted the user name %q", userName)
		}
		if isCommon(strings.ToLower(pw)) {
			t.Fatalf("accepted the common %q", password)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	commonList() // loaded once per process; not part of a check
	for _, bc := range []struct{ name, password string }{
		{"accepted", "vH7#kq2Lx9zWp4Tm"},
		{"common", "Password1234"},
		{"passphrase", "correct horse battery staple über alles"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Policy{}.Check(user, email, bc.password)
			}
		})
	}
}

func BenchmarkLoadList(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeList(commonGz); err != nil {
			b.Fatal(err)
		}
	}
}
