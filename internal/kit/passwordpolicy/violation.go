package passwordpolicy

import "fmt"

// Code names the rule a password breaks. It is stable: the message
// catalogs key their texts by it ("password.policy." + code).
type Code string

// The rules of a Policy.
const (
	TooShort      Code = "too_short"       // fewer characters than the minimum (Limit)
	TooLong       Code = "too_long"        // more bytes than MaxBytes (Limit)
	IsUserName    Code = "is_user_name"    // the user name, ignoring case
	IsEmail       Code = "is_email"        // the email address or its local part, ignoring case
	Common        Code = "common"          // in the list of common passwords, ignoring case
	SameAsCurrent Code = "same_as_current" // the password it would replace (CheckChange)
)

// Violation is the error of a password that breaks a rule.
type Violation struct {
	Code  Code
	Limit int // the bound of TooShort (characters) and TooLong (bytes); 0 otherwise
}

// MessageKey is the key of the violation's text in the message catalogs
// of internal/kit/i18n.
func (v *Violation) MessageKey() string { return "password.policy." + string(v.Code) }

// MessageArgs are the arguments of the text under MessageKey.
func (v *Violation) MessageArgs() []any {
	if v.Code == TooShort || v.Code == TooLong {
		return []any{v.Limit}
	}
	return nil
}

// english holds the texts of the "en" catalog; a test keeps them equal.
var english = map[Code]string{
	TooShort:      "The password must have at least %d characters.",
	TooLong:       "The password must have at most %d bytes.",
	IsUserName:    "The password must not be your username.",
	IsEmail:       "The password must not be your email address.",
	Common:        "This password is one of the most common passwords. Choose another one.",
	SameAsCurrent: "The new password must differ from the current password.",
}

// Error is the violation's text in English, as the CLI prints it.
func (v *Violation) Error() string {
	msg, ok := english[v.Code]
	if !ok {
		return "password policy: " + string(v.Code)
	}
	if args := v.MessageArgs(); len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}
