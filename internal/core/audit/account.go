package audit

// Changes to an account by its owner, or by the CLI for them (SPEC §8).
const (
	PasswordChanged         = "user.password_changed" // Details["source"]: "web" or "cli"
	ProfileUpdated          = "user.profile_updated"  // Details["fields"]: what changed, never the values of secrets
	RecoveryCodesRegenerate = "two_factor.recovery_codes_regenerated"
	UserUpdated             = "user.updated" // tolk user update: Details["fields"]
)

func init() {
	Types = append(Types, PasswordChanged, ProfileUpdated, RecoveryCodesRegenerate, UserUpdated)
}
