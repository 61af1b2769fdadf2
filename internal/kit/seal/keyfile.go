package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize bounds what LoadOrCreateKeyFile reads: a key file is a few
// dozen bytes, so anything large is a wrong path, not a key.
const maxKeyFileSize = 4096

// ErrKeyFileMissing is LoadOrCreateKeyFile's answer for a missing key file
// whose key has already sealed data: a new key could not open that data.
var ErrKeyFileMissing = errors.New("seal: key file missing")

// LoadOrCreateKeyFile returns the secret stored in the file at path,
// creating the file with 32 random bytes (base64, mode 0600) if it does not
// exist and sealed reports that nothing has been sealed yet. An existing
// file may hold the secret base64-encoded (standard or URL alphabet, padded
// or not) or raw; either way it must give at least MinSecretLen bytes.
//
// A missing file when sealed reports sealed data (a database restored
// without its key file, say) is ErrKeyFileMissing, with the remedy, rather
// than a new key that would fail later on every sealed value.
//
// A file that group or others may read is refused rather than used: the
// key is what keeps a database dump useless, so a world-readable key file
// is a configuration error the operator must fix (chmod 600).
//
// Creation is atomic: the secret is written to a temporary file that is then
// hard-linked into place, which fails if path exists. So several processes
// starting at once on a fresh data directory all end up with the same key,
// and none ever reads a half-written file.
func LoadOrCreateKeyFile(path string, sealed func() (bool, error)) ([]byte, error) {
	key, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	inUse, err := sealed()
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s is missing and the sealed data could not be checked: %w", path, err)
	}
	if inUse {
		// A process starting at the same time on a fresh data directory
		// creates the file before it seals anything: read again.
		key, err := readKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist, but the database holds keys sealed with the key it held "+
				"(restored without it?); a new key could not open them: restore the key file saved with the database",
				ErrKeyFileMissing, path)
		}
		return key, err
	}
	if err := createKeyFile(path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it between our read and our create.
			return readKeyFile(path)
		}
		return nil, err
	}
	return readKeyFile(path)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits; Go reports 0666/0444 there.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s has mode %04o, readable by group or others; run: chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("seal: key file %s is larger than %d bytes; not a key file", path, maxKeyFileSize)
	}
	return parseKey(path, data)
}

// parseKey accepts base64 first, since that is what we write and what an
// operator pastes; raw bytes are the fallback for keys made with e.g.
// `head -c 32 /dev/urandom`.
func parseKey(path string, data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		dec := make([]byte, enc.DecodedLen(len(trimmed)))
		n, err := enc.Decode(dec, trimmed)
		if err == nil && n >= MinSecretLen {
			return dec[:n], nil
		}
	}
	if len(data) >= MinSecretLen {
		return data, nil
	}
	return nil, fmt.Errorf("seal: key file %s holds fewer than %d bytes of key (base64 or raw)", path, MinSecretLen)
}

func createKeyFile(path string) (err error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("seal: generate key: %w", err)
	}
	content := []byte(base64.StdEncoding.EncodeToString(secret) + "\n")

	dir := filepath.Dir(path)
	// CreateTemp opens with O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("seal: create key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: create key file: %w", err)
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: write key file: %w", err)
	}
	// The key must survive a crash: data sealed with it would be lost.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: write key file: %w", err)
	}

	// link(2) fails with EEXIST if path exists: the publish step is the
	// exclusive create, and readers only ever see the complete file.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// No hard links on this filesystem: fall back to an exclusive
		// create of path itself.
		if err2 := writeExclusive(path, content); err2 != nil {
			return err2
		}
	}
	syncDir(dir)
	return nil
}

func writeExclusive(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("seal: create key file: %w", err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("seal: write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("seal: write key file: %w", err)
	}
	return f.Close()
}

// syncDir makes the new directory entry durable; best effort, since not
// every platform can fsync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
