//go:build ignore

// gencommon writes common.txt.gz, the common passwords a Policy refuses,
// from the password frequency list of zxcvbn as the Go module
// github.com/trustelem/zxcvbn ships it (README.md beside this file says
// where the list comes from and under which license). It keeps every entry
// of at least minRunes characters: a shorter one is refused by length
// already. Entries are lower-cased, NFC-normalised, unique and sorted, so
// that a lookup is a binary search.
//
// Run it with `go generate ./internal/kit/passwordpolicy/`.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	module  = "github.com/trustelem/zxcvbn"
	version = "v1.0.1"
	list    = "data/passwords.txt" // "password count" per line, most common first
	out     = "common.txt.gz"

	// minRunes is passwordpolicy.MinLengthFloor; the package's tests
	// check that the shipped list starts there.
	minRunes = 8
)

func main() {
	dir, err := download()
	if err != nil {
		log.Fatal(err)
	}
	words, err := read(filepath.Join(dir, list))
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := zw.Write([]byte(strings.Join(words, "\n") + "\n")); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d passwords of %d or more characters from %s@%s, %d bytes\n", out, len(words), minRunes, module, version, buf.Len())
}

// download fetches the module through the Go module proxy (checked
// against the checksum database) into the module cache and returns its
// directory. It runs outside any module so tolk's go.mod stays untouched.
func download() (string, error) {
	tmp, err := os.MkdirTemp("", "gencommon")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	if m.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, m.Error)
	}
	return m.Dir, nil
}

func read(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var words []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		w := strings.ToLower(norm.NFC.String(fields[0]))
		if utf8.RuneCountInString(w) >= minRunes {
			words = append(words, w)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.Sort(words)
	return slices.Compact(words), nil
}
