package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-07T14:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, c := range []struct {
		name    string
		bi      *debug.BuildInfo
		stamped string
		want    Info
		line    string
	}{
		{"nothing recorded", nil, "", Info{Version: "devel"}, "devel"},
		{"stamped without build info", nil, "v1.0.0", Info{Version: "v1.0.0"}, "v1.0.0"},
		{"devel build in a work tree",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "",
			Info{Version: "devel", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-07T14:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			"devel (revision 0123456789abcdef0123456789abcdef01234567, 2026-12-07T14:00:00Z, modified, go1.26.8)"},
		{"module version",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, "",
			Info{Version: "v1.4.0", GoVersion: "go1.26.8"}, "v1.4.0 (go1.26.8)"},
		{"stamped wins over the module's",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}, Settings: vcs[:2]}, "v2.0.0",
			Info{Version: "v2.0.0", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8"},
			"v2.0.0 (revision 0123456789abcdef0123456789abcdef01234567, go1.26.8)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := From(c.bi, c.stamped)
			if got != c.want {
				t.Errorf("From = %+v, want %+v", got, c.want)
			}
			if s := got.String(); s != c.line {
				t.Errorf("String = %q, want %q", s, c.line)
			}
		})
	}
}

func TestReadKnowsTheGoRelease(t *testing.T) {
	if i := Read(""); i.GoVersion == "" || i.Version == "" {
		t.Errorf("Read = %+v", i)
	}
}
