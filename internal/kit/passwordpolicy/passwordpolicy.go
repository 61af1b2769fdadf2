// Package passwordpolicy decides whether a password may be set: long
// enough, not so long that hashing it is a burden, not the user's name or
// email address, and not one of the most common passwords. Password change,
// reset, invitations and the CLI all ask the same Policy; hashing is
// internal/kit/password's job.
//
// A refusal is a *Violation: its Code and MessageArgs let the web UI
// translate it (the catalogs hold "password.policy.<code>"), and its Error
// is the English text the CLI prints.
package passwordpolicy

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// DefaultMinLength is the minimum length of SPEC §8.
	DefaultMinLength = 12
	// MinLengthFloor is the least minimum a Policy applies. The shipped
	// list of common passwords holds none shorter, so a lower minimum
	// would let the most common short passwords through.
	MinLengthFloor = 8
	// MaxBytes bounds a password in bytes, so that nobody makes argon2id
	// hash megabytes; a passphrase of 1024 bytes is long enough for anyone.
	MaxBytes = 1024
)

// Policy is the rules a new password must pass. The zero Policy applies
// the defaults.
type Policy struct {
	// MinLength is the least number of characters, counted as Unicode
	// code points after NFC normalisation. 0 means DefaultMinLength; a
	// value below MinLengthFloor counts as MinLengthFloor.
	MinLength int
}

// Check returns nil when password may be set for the user with this user
// name and email (either may be empty), and otherwise a *Violation of the
// first rule it breaks: too long, too short, the user name, the email
// address or its local part (ignoring case), a common password (ignoring
// case).
func (p Policy) Check(userName, email, password string) error {
	if len(password) > MaxBytes {
		return &Violation{Code: TooLong, Limit: MaxBytes}
	}
	pw := Normalize(password)
	if minLen := p.MinimumLength(); utf8.RuneCountInString(pw) < minLen {
		return &Violation{Code: TooShort, Limit: minLen}
	}
	if userName != "" && strings.EqualFold(pw, Normalize(userName)) {
		return &Violation{Code: IsUserName}
	}
	if email != "" {
		email = Normalize(email)
		local := email
		if at := strings.LastIndexByte(email, '@'); at >= 0 {
			local = email[:at]
		}
		if strings.EqualFold(pw, email) || strings.EqualFold(pw, local) {
			return &Violation{Code: IsEmail}
		}
	}
	if isCommon(strings.ToLower(pw)) {
		return &Violation{Code: Common}
	}
	return nil
}

// CheckChange is Check for a user who replaces the password current (as
// they typed it to confirm the change) with proposed: it also refuses a
// proposed password that is the current one.
func (p Policy) CheckChange(userName, email, current, proposed string) error {
	if len(proposed) <= MaxBytes && Normalize(proposed) == Normalize(current) {
		return &Violation{Code: SameAsCurrent}
	}
	return p.Check(userName, email, proposed)
}

// MinimumLength is the least number of characters Check accepts, for a
// form's hint or its minlength attribute.
func (p Policy) MinimumLength() int {
	switch {
	case p.MinLength == 0:
		return DefaultMinLength
	case p.MinLength < MinLengthFloor:
		return MinLengthFloor
	default:
		return p.MinLength
	}
}

// Normalize returns password in Unicode normalisation form C, the form
// Check counts and compares, so that "é" typed as one code point or as
// "e" and a combining accent is one password (RFC 8265 §4.2, NIST SP
// 800-63B §5.1.1.2).
func Normalize(password string) string { return norm.NFC.String(password) }
