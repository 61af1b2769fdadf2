package packaging

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tolk-project/tolk/internal/kit/config"
)

// The files every test reads, relative to this directory.
const (
	nfpmPath    = "nfpm.yaml"
	unitPath    = "tolk.service"
	sedPath     = "tolk.yaml.sed"
	examplePath = "../tolk.example.yaml"
	makefile    = "../Makefile"
)

// Where the package puts things; the unit, the scripts and the config
// must agree with nfpm.yaml on each.
const (
	binDst      = "/usr/bin/tolk"
	confDst     = "/etc/tolk/tolk.yaml"
	unitDst     = "/usr/lib/systemd/system/tolk.service"
	stateDir    = "/var/lib/tolk"
	packagedDB  = "sqlite:" + stateDir + "/tolk.db"
	serviceUser = "tolk"
)

// nfpmConfig is the part of nfpm's configuration the package uses.
// Decoding it with KnownFields, as nfpm does, catches a misspelt key.
type nfpmConfig struct {
	Name          string   `yaml:"name"`
	Arch          string   `yaml:"arch"`
	Platform      string   `yaml:"platform"`
	Version       string   `yaml:"version"`
	VersionSchema string   `yaml:"version_schema"`
	Section       string   `yaml:"section"`
	Priority      string   `yaml:"priority"`
	Maintainer    string   `yaml:"maintainer"`
	Description   string   `yaml:"description"`
	Depends       []string `yaml:"depends"`
	Contents      []struct {
		Src      string `yaml:"src"`
		Dst      string `yaml:"dst"`
		Type     string `yaml:"type"`
		Expand   bool   `yaml:"expand"`
		FileInfo struct {
			Mode fs.FileMode `yaml:"mode"`
		} `yaml:"file_info"`
	} `yaml:"contents"`
	Scripts struct {
		PostInstall string `yaml:"postinstall"`
		PreRemove   string `yaml:"preremove"`
		PostRemove  string `yaml:"postremove"`
	} `yaml:"scripts"`
}

func readNFPM(t *testing.T) nfpmConfig {
	t.Helper()
	b, err := os.ReadFile(nfpmPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c nfpmConfig
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", nfpmPath, err)
	}
	return c
}

// TestNFPMConfig: the package holds the binary, the unit and the config
// as a conffile, from files that exist or that `make dist` writes, and
// its maintainer scripts are there, executable and valid sh.
func TestNFPMConfig(t *testing.T) {
	c := readNFPM(t)
	if c.Name != "tolk" || c.Arch != "${ARCH}" || c.Version != "${DEB_VERSION}" || c.VersionSchema != "none" {
		t.Errorf("name, arch, version, version_schema = %q, %q, %q, %q; want tolk, ${ARCH}, ${DEB_VERSION}, none (the Makefile sets both)",
			c.Name, c.Arch, c.Version, c.VersionSchema)
	}
	mk, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		src, typ string
		mode     fs.FileMode
	}
	wants := map[string]want{
		binDst:  {"dist/tolk-linux-${ARCH}", "", 0o755},
		unitDst: {"packaging/tolk.service", "", 0o644},
		// A conffile: dpkg keeps the administrator's edits on upgrade.
		confDst: {"dist/tolk.yaml", "config|noreplace", 0o640},
	}
	for _, f := range c.Contents {
		if f.Type == "dir" {
			continue
		}
		if w, ok := wants[f.Dst]; ok {
			if f.Src != w.src || f.Type != w.typ || f.FileInfo.Mode != w.mode {
				t.Errorf("%s: src %q type %q mode %#o; want %q %q %#o", f.Dst, f.Src, f.Type, f.FileInfo.Mode, w.src, w.typ, w.mode)
			}
			if strings.Contains(f.Src, "${") && !f.Expand {
				t.Errorf("%s: src %q names a variable but expand is off", f.Dst, f.Src)
			}
			delete(wants, f.Dst)
		}
		// nfpm runs from the repository's root: sources are files of
		// the repository or what the Makefile's dist target writes.
		if src, ok := strings.CutPrefix(f.Src, "dist/"); ok {
			made := strings.ReplaceAll(src, "${ARCH}", "$$a")
			if !bytes.Contains(mk, []byte("dist/"+made)) {
				t.Errorf("%s: src %s is not written by the Makefile's dist target", f.Dst, f.Src)
			}
		} else if _, err := os.Stat(filepath.Join("..", f.Src)); err != nil {
			t.Errorf("%s: %v", f.Dst, err)
		}
	}
	for dst := range wants {
		t.Errorf("the package lacks %s", dst)
	}

	scripts := map[string]string{"postinstall": c.Scripts.PostInstall, "preremove": c.Scripts.PreRemove, "postremove": c.Scripts.PostRemove}
	for name, path := range scripts {
		if path == "" {
			t.Errorf("no %s script", name)
			continue
		}
		fi, err := os.Stat(filepath.Join("..", path))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", path)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join("..", path)).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", path, err, out)
		}
	}
}

// unit is a systemd unit file: section -> key -> values in order (a key
// may repeat; an empty value is kept, it means "reset" to systemd).
type unit map[string]map[string][]string

func parseUnit(b []byte) (unit, error) {
	u := unit{}
	var section string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasSuffix(line, "\\"):
			return nil, fmt.Errorf("line %d: continuation lines are not expected here", n)
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if _, dup := u[section]; dup {
				return nil, fmt.Errorf("line %d: section [%s] twice", n, section)
			}
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is not key=value in a section", n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// TestSystemdUnit: the unit runs the packaged binary with the packaged
// config as the user the postinst creates, keeps its state where the
// packaged config puts the database, and carries the hardening of SPEC §9.
// Where systemd-analyze is installed it must find nothing to say either.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(b)
	if err != nil {
		t.Fatalf("%s: %v", unitPath, err)
	}
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Fatalf("%s has no [%s]", unitPath, s)
		}
	}
	svc := u["Service"]
	start := svc["ExecStart"]
	if len(start) != 1 {
		t.Fatalf("ExecStart = %q; want one", start)
	}
	argv := strings.Fields(start[0])
	if argv[0] != binDst || !slices.Contains(argv, "serve") {
		t.Errorf("ExecStart = %q; want %s serve …", start[0], binDst)
	}
	if i := slices.Index(argv, "--config"); i < 0 || i+1 >= len(argv) || argv[i+1] != confDst {
		t.Errorf("ExecStart = %q; want --config %s", start[0], confDst)
	}

	want := map[string]string{
		"User":                    serviceUser,
		"Group":                   serviceUser,
		"StateDirectory":          filepath.Base(stateDir),
		"WorkingDirectory":        stateDir,
		"ConfigurationDirectory":  filepath.Base(filepath.Dir(confDst)),
		"UMask":                   "0077",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "", // none at all
		"AmbientCapabilities":     "",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallArchitectures": "native",
	}
	for k, v := range want {
		got, ok := svc[k]
		if !ok || got[len(got)-1] != v {
			t.Errorf("[Service] %s = %q; want %q", k, got, v)
		}
	}
	if f := svc["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q; want @system-service first", f)
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy = %q", got)
	}

	// The user the unit names is the one the postinst creates.
	c := readNFPM(t)
	post, err := os.ReadFile(filepath.Join("..", c.Scripts.PostInstall))
	if err != nil {
		t.Fatal(err)
	}
	if !createsUser(post, serviceUser) {
		t.Errorf("%s does not create the user %s", c.Scripts.PostInstall, serviceUser)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit was checked by this test's parser only")
	}
	// verify wants ExecStart's program to exist: a copy runs this test's
	// own binary instead of the not yet installed /usr/bin/tolk.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "tolk.service")
	if err := os.WriteFile(copyPath, bytes.Replace(b, []byte("ExecStart="+binDst), []byte("ExecStart="+self), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", copyPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// createsUser reports whether script runs useradd for name.
func createsUser(script []byte, name string) bool {
	var cmd strings.Builder
	for line := range strings.Lines(string(script)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		cmd.WriteString(strings.TrimSuffix(line, "\\"))
		if strings.HasSuffix(line, "\\") {
			continue
		}
		f := strings.Fields(cmd.String())
		cmd.Reset()
		if len(f) > 1 && f[0] == "useradd" && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// TestPackagedConfig: /etc/tolk/tolk.yaml, made from tolk.example.yaml by
// tolk.yaml.sed as `make dist` does, loads and validates with tolk's own
// loader, puts the database in the unit's state directory, and changes
// nothing else: a setting added to the example is in the package too.
func TestPackagedConfig(t *testing.T) {
	out, err := exec.Command("sed", "-f", sedPath, examplePath).Output()
	if err != nil {
		t.Fatalf("sed -f %s %s: %v", sedPath, examplePath, err)
	}
	if !bytes.HasPrefix(out, []byte("# "+confDst+":")) {
		t.Errorf("the packaged config does not open with its header naming %s:\n%.200s", confDst, out)
	}
	packaged := filepath.Join(t.TempDir(), "tolk.yaml")
	if err := os.WriteFile(packaged, out, 0o640); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	got, err := config.Load(config.Sources{File: packaged, Env: noEnv})
	if err != nil {
		t.Fatalf("loading the packaged config: %v", err)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the packaged config does not validate: %v", err)
	}
	if got.DB != packagedDB {
		t.Errorf("db = %q; want %q (did the example's db line change? %s rewrites `db: sqlite:tolk.db`)", got.DB, packagedDB, sedPath)
	}
	example, err := config.Load(config.Sources{File: examplePath, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	got.DB = example.DB
	if !reflect.DeepEqual(got, example) {
		t.Errorf("the packaged config differs from tolk.example.yaml beyond db:\n%+v\n%+v", got, example)
	}
}
