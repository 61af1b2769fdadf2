package secret

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// Stamped secrets and storage keys.
//
// A secret's SHA-256 is uniformly random, so a table keyed by it takes each
// insert on a random B-tree page: every issued token dirties a different
// page, and the database writes (and checksums, and fsyncs) a whole page
// per token. That, more than the SQL, bounded how many tokens per second
// tolk could issue. A stamped secret starts with its issuance time, and its
// storage key (Key) is that time followed by the SHA-256: keys of new
// tokens sort after older ones, so inserts append to the right edge of the
// index, as with a sequence. The stamp reveals only when the token was
// issued, which a JWT's iat reveals too; the 256 random bits after it are
// unchanged, and the key still holds nothing but public time and a hash.

// stampLen hex digits of Unix milliseconds last until the year 10889.
// Lowercase hex sorts the same way in every collation (PostgreSQL's
// locale-aware ones too), unlike mixed-case base62.
const stampLen = 12

const hexDigits = "0123456789abcdef"

// stamp encodes t as stampLen lowercase hex digits of Unix milliseconds:
// the low six bytes of the big-endian count.
func stamp(t time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixMilli()))
	return hex.EncodeToString(b[8-stampLen/2:])
}

func isStamp(s string) bool { return len(s) == stampLen && isHex(s) }

// StampedPrefixed returns prefix + the issuance stamp + 43 random
// alphanumerics + a checksum of everything before it. CheckPrefixed
// accepts it like a Prefixed secret; Key makes its storage key.
func (g Generator) StampedPrefixed(prefix string, now time.Time) (string, error) {
	body, err := g.Alphanumeric(bodyLen)
	if err != nil {
		return "", err
	}
	body = stamp(now) + body
	return prefix + body + checksum(prefix+body), nil
}

// StampedHex returns the issuance stamp followed by nbytes random bytes in
// hex: an identifier (a jti, an audit event id) whose keys sort by age.
func (g Generator) StampedHex(now time.Time, nbytes int) (string, error) {
	h, err := g.Hex(nbytes)
	if err != nil {
		return "", err
	}
	return stamp(now) + h, nil
}

// Key returns the storage key of a secret or identifier: its SHA-256 in
// hex, preceded by its issuance stamp when it has one (a StampedPrefixed
// secret with its prefix, or a JWT id made by StampedHex(now, JTIBytes)).
// Anything else keys by Hash alone, so tokens issued before stamps existed
// still match.
func Key(s string) string {
	if st, ok := stampOf(s); ok {
		return st + Hash(s)
	}
	return Hash(s)
}

// stampOf finds the stamp of a stamped prefixed secret ("tolk_xx_" +
// stamp + body + checksum) or of a StampedHex value.
func stampOf(s string) (string, bool) {
	if len(s) == len("tolk_xx_")+stampLen+bodyLen+checksumLen && strings.HasPrefix(s, "tolk_") && s[7] == '_' {
		if st := s[8 : 8+stampLen]; isStamp(st) {
			return st, true
		}
		return "", false
	}
	// Only the length of a StampedHex JWT id: other hex secrets (a PAT is
	// 64 hex characters) key by their hash alone.
	if IsJTI(s) {
		return s[:stampLen], true
	}
	return "", false
}

// JTIBytes is the random part of a stamped JWT id (StampedHex(now,
// JTIBytes)), the one hex length Key reads a stamp from.
const JTIBytes = 16

// JTI returns a fresh JWT id issued at now: StampedHex(now, JTIBytes).
func (g Generator) JTI(now time.Time) (string, error) { return g.StampedHex(now, JTIBytes) }

// IsJTI reports whether s has the shape of a JWT id made by JTI.
func IsJTI(s string) bool { return len(s) == stampLen+2*JTIBytes && isHex(s) }

// isHex reports whether s is lowercase hex.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// StampTime returns the issuance time a StampedHex value (or anything
// that starts with such a stamp) carries, to the millisecond.
func StampTime(s string) (time.Time, bool) {
	if len(s) < stampLen || !isStamp(s[:stampLen]) {
		return time.Time{}, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[8-stampLen/2:], []byte(s[:stampLen])); err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b[:]))), true
}
