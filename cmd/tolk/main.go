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
	code := cli.Run(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Getenv, Hangups: hangups})
	stop()
	os.Exit(code)
}

// hangups subscribes to SIGHUP (serve reloads its TLS certificate) while
// serve runs with TLS; otherwise SIGHUP ends tolk as it always did.
func hangups() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}
