package passwordpolicy

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"slices"
	"strings"
	"sync"
)

//go:generate go run gencommon.go

// commonGz is the list of common passwords (README.md: source, license),
// lower-cased, sorted, one a line.
//
//go:embed common.txt.gz
var commonGz []byte

// commonList is the list, decompressed at its first use so that a process
// that never sets a password never holds it. It is immutable data of the
// binary, like a table, hence one per process.
var commonList = sync.OnceValue(func() []string {
	words, err := decodeList(commonGz)
	if err != nil {
		// The file is part of the binary and its tests read it: a failure
		// here is a broken build, not a condition to handle.
		panic("passwordpolicy: embedded list: " + err.Error())
	}
	return words
})

func decodeList(gz []byte) ([]string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	// The words share the one string they are cut from.
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), nil
}

// isCommon reports whether lower, a lower-cased password, is on the list.
func isCommon(lower string) bool {
	_, found := slices.BinarySearch(commonList(), lower)
	return found
}
