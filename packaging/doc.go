// Package packaging holds the files of tolk's Debian package, which
// `make dist` builds with nfpm: nfpm.yaml, the systemd unit tolk.service,
// the maintainer scripts, and tolk.yaml.sed, which makes the packaged
// /etc/tolk/tolk.yaml from tolk.example.yaml. It has no Go code; its
// tests check that those files agree with each other and with tolk's
// configuration loader (docs/operations.md "Installing from the package").
package packaging
