// Command tolk is an identity and API-access server for translation
// platforms. See the README and SPEC for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tolk-project/tolk/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Getenv})
	stop()
	os.Exit(code)
}
