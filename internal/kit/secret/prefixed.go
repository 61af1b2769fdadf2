package secret

import (
	"hash/crc32"
	"strings"
)

// Type prefixes of tolk's opaque secrets (SPEC §6): a leaked secret is
// recognizable by scanners, and by its checksum without asking the server.
const (
	PrefixAccessToken   = "tolk_at_"
	PrefixRefreshToken  = "tolk_rt_"
	PrefixClientSecret  = "tolk_cs_"
	PrefixAuthCode      = "tolk_ac_"
	PrefixAPIKey        = "tolk_pk_"
	PrefixPlatformToken = "tolk_pt_"
)

// bodyLen alphanumerics carry 43*log2(62) ≈ 256 bits.
const bodyLen = 43

const checksumLen = 6

// Prefixed returns prefix + 43 random alphanumerics + a 6-character CRC32
// checksum of everything before it.
func (g Generator) Prefixed(prefix string) (string, error) {
	body, err := g.Alphanumeric(bodyLen)
	if err != nil {
		return "", err
	}
	return prefix + body + checksum(prefix+body), nil
}

// CheckPrefixed reports whether s has the shape and a valid checksum for
// prefix, plain (Prefixed) or stamped (StampedPrefixed). It is a cheap
// filter before a database lookup, not a proof of validity.
func CheckPrefixed(prefix, s string) bool {
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	switch len(s) - len(prefix) {
	case bodyLen + checksumLen:
	case stampLen + bodyLen + checksumLen:
		if !isStamp(s[len(prefix) : len(prefix)+stampLen]) {
			return false
		}
	default:
		return false
	}
	body := s[len(prefix) : len(s)-checksumLen]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphanumerics, body[i]) < 0 {
			return false
		}
	}
	return Equal(s[len(s)-checksumLen:], checksum(prefix+body))
}

func checksum(s string) string {
	n := crc32.ChecksumIEEE([]byte(s))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphanumerics[n%62]
		n /= 62
	}
	return string(out)
}

// WithChecksum returns prefix + body + the 6-character checksum of both,
// for a prefixed secret whose body is not Prefixed's 43 alphanumerics (a
// sealed access token). body must not end in a way the caller cannot
// split: the checksum is always the last six characters.
func WithChecksum(prefix, body string) string { return prefix + body + checksum(prefix+body) }

// CheckChecksum returns the body of s made by WithChecksum(prefix, body)
// and whether its prefix and checksum hold: a cheap filter for typos and
// scanners, not a proof of anything.
func CheckChecksum(prefix, s string) (string, bool) {
	if !strings.HasPrefix(s, prefix) || len(s) < len(prefix)+checksumLen {
		return "", false
	}
	cut := len(s) - checksumLen
	if !Equal(s[cut:], checksum(s[:cut])) {
		return "", false
	}
	return s[len(prefix):cut], true
}
