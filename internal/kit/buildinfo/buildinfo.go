// Package buildinfo says which build of tolk is running: the version, the
// revision and time of the commit it was built from, and the Go release,
// read from what the Go toolchain records in every binary.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info describes one build. Fields the build did not record are empty.
type Info struct {
	Version   string `json:"version"`            // v1.2.3, a Go pseudo-version, or "devel"
	Revision  string `json:"revision,omitempty"` // the VCS commit (needs -buildvcs=true outside a module download)
	Time      string `json:"time,omitempty"`     // the commit's time, RFC 3339
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	GoVersion string `json:"go"`
}

// Read describes the running binary. stamped, when not empty, is a version
// given at link time (-ldflags "-X …=v1.2.3") and wins over the module's.
func Read(stamped string) Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return From(bi, stamped)
}

// From describes the build bi records (nil: nothing recorded).
func From(bi *debug.BuildInfo, stamped string) Info {
	i := Info{Version: stamped}
	if bi == nil {
		if i.Version == "" {
			i.Version = "devel"
		}
		return i
	}
	i.GoVersion = bi.GoVersion
	if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the one line `tolk version` prints:
// "v1.2.3 (revision 0123abcd…, 2026-12-07T14:00:00Z, modified, go1.26.8)".
func (i Info) String() string {
	var parts []string
	if i.Revision != "" {
		parts = append(parts, "revision "+i.Revision)
	}
	if i.Time != "" {
		parts = append(parts, i.Time)
	}
	if i.Modified {
		parts = append(parts, "modified")
	}
	if i.GoVersion != "" {
		parts = append(parts, i.GoVersion)
	}
	if len(parts) == 0 {
		return i.Version
	}
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(parts, ", "))
}
