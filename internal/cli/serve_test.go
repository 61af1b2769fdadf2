package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/cli"
)

// TestServeOnBusyPortLeavesNothing: serve binds its address before it
// creates the database, the key file or the first admin, so a busy port
// fails with nothing left behind and no password printed.
func TestServeOnBusyPortLeavesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "fresh.db")
	var out, errb bytes.Buffer
	p := cheap
	// No Listen override: the real net.Listen meets the busy port.
	code := cli.Run(context.Background(), []string{"serve", "--db", "sqlite:" + db, "--addr", busy.Addr().String()}, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Env: func(string) string { return "" }, Params: &p,
	})
	if code == 0 {
		t.Fatalf("serve on a busy port exited 0: %s", errb.String())
	}
	if !strings.Contains(errb.String(), busy.Addr().String()) {
		t.Errorf("the error does not name the address: %s", errb.String())
	}
	if strings.Contains(errb.String(), "password") {
		t.Errorf("a password was printed: %s", errb.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}
