package server

import (
	"strings"

	"github.com/tolk-project/tolk/internal/kit/config"
)

// KeyFile is the file holding the key that seals the secrets of cfg's
// database (signing keys, TOTP seeds): beside the SQLite database when
// secret_key is not set; "" when the key is secret_key. tolk backup copies
// it with the database.
func KeyFile(cfg config.Config) string {
	if cfg.SecretKey != "" {
		return ""
	}
	return strings.TrimPrefix(cfg.DB, "sqlite:") + ".key"
}

// keySource names where the sealing key came from, for the operator.
func keySource(cfg config.Config) string {
	if f := KeyFile(cfg); f != "" {
		return "the key file " + f
	}
	return "secret_key"
}
