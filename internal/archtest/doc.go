// Package archtest holds the tests that keep tolk's layers apart: which
// package may import which (from the import graph of `go list`), and
// that the HTTP handlers reach storage only through the domain services
// (from the call sites, type-checked with go/types). It has no code of
// its own; the rules and their reasons are in rules_test.go.
package archtest
