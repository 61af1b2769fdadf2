package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionOfAStampedBuild: a binary built as a release is built
// (-buildvcs=true, the version given at link time) says which commit it
// was built from, when, with which Go, and the version it was given.
func TestVersionOfAStampedBuild(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true, but this checkout has no git revision: %v", err)
		}
		t.Skipf("not a git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tolk")
	build := exec.Command("go", "build", "-buildvcs=true",
		"-ldflags", "-X github.com/tolk-project/tolk/internal/cli.Version=v9.8.7", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version, Revision, Time, Go string
		Modified                    bool
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Version != "v9.8.7" || v.Revision != strings.TrimSpace(string(head)) || v.Time == "" || v.Go != runtime.Version() {
		t.Errorf("version --json = %s; want v9.8.7 at %s", out, head)
	}
	line, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(line), "tolk v9.8.7 (revision "+v.Revision) {
		t.Errorf("version = %q, %v", line, err)
	}
}
