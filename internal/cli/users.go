package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
)

// `tolk user passwd` and `tolk user update` (SPEC §8): the operator's
// changes to an account, each an audit event; what ends with them ends as
// it does in the UI.

type userPasswd struct {
	Username      string `required:"" help:"User name."`
	PasswordStdin bool   `name:"password-stdin" required:"" help:"Read the new password from the first line of standard input."`
}

type userUpdate struct {
	Username  string  `required:"" help:"User name of the user to change."`
	Email     *string `help:"New email address."`
	FirstName *string `name:"first-name" help:"New first name."`
	LastName  *string `name:"last-name" help:"New last name."`
	Role      *string `help:"New role: ADMIN, PROJECT_MANAGER, LINGUIST, GUEST or SUBMITTER."`
	Active    *bool   `help:"--active=false deactivates the user and ends their sessions and credentials at once; --active=true reactivates."`
}

// readPasswordLine reads the password from the first line of stdin.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

func userPasswdCmd(ctx context.Context, srv *server.Server, c userPasswd, stdio IO) error {
	pw, err := readPasswordLine(stdio.Stdin)
	if err != nil {
		return err
	}
	u, err := srv.Identity.SetPassword(ctx, c.Username, pw)
	if errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("user %q: not found", c.Username)
	}
	if err != nil {
		return err
	}
	return writeJSON(stdio.Stdout, toJSON(u))
}

func userUpdateCmd(ctx context.Context, srv *server.Server, c userUpdate, stdio IO) error {
	up := identity.UserUpdate{Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Active: c.Active}
	if c.Role != nil {
		r := store.Role(strings.ToUpper(*c.Role))
		up.Role = &r
	}
	u, err := srv.Identity.UpdateUser(ctx, c.Username, up)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return fmt.Errorf("user %q: not found", c.Username)
	case errors.Is(err, identity.ErrConflict):
		return fmt.Errorf("email %q is taken by another user", *c.Email)
	case err != nil:
		return err
	}
	return writeJSON(stdio.Stdout, toJSON(u))
}
