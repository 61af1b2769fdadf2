// Package phrasego drives tolk's Strings dialect with Phrase's own Go SDK
// (github.com/phrase/phrase-go/v4), the client the Phrase CLI is built on:
// personal access tokens are created, listed, shown, changed and deleted
// through /v2/authorizations, with and without an expiry and two-factor
// authentication, and /v2/user is read with them, every answer decoded by
// the SDK's own models.
//
// It is a module of its own so that the SDK and its dependencies stay out
// of tolk's go.mod. The tests build the tolk binary from the enclosing
// module (../..) and run `tolk serve` on a loopback port, since tolk's
// test helpers are internal packages another module cannot import:
//
//	cd interop/phrasego && go test ./...
package phrasego
