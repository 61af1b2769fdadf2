package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
)

// `tolk user create` without --password-stdin, `tolk user reset-link`
// and `tolk user reset-2fa` (SPEC §8): an operator's way to a password or
// a second factor for someone else, each an audit event. The links are
// printed, never mailed, and valid invitation_ttl.

type userNamed struct {
	Username string `required:"" help:"User name."`
}

// linkJSON is a printed link: it works once, until expires.
type linkJSON struct {
	SetPasswordURL string `json:"set_password_url"`
	Expires        string `json:"expires"`
}

func toLinkJSON(l identity.Link) linkJSON {
	return linkJSON{SetPasswordURL: l.URL, Expires: l.Expires.UTC().Format(time.RFC3339)}
}

// invitedJSON is a user created without a password, with its link.
type invitedJSON struct {
	userJSON
	linkJSON
}

func userInviteCmd(ctx context.Context, srv *server.Server, c userCreate, stdio IO) error {
	u, l, err := srv.Recovery.CreateInvited(ctx, identity.NewUser{
		UserName: c.Username, Email: c.Email, Role: store.Role(strings.ToUpper(c.Role)),
		FirstName: c.FirstName, LastName: c.LastName,
	})
	if err != nil {
		return err
	}
	return writeJSON(stdio.Stdout, invitedJSON{toJSON(u), toLinkJSON(l)})
}

func userResetLinkCmd(ctx context.Context, srv *server.Server, c userNamed, stdio IO) error {
	_, l, err := srv.Recovery.ResetLink(ctx, c.Username)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return fmt.Errorf("user %q: not found", c.Username)
	case errors.Is(err, identity.ErrForbidden):
		return fmt.Errorf("user %q is deactivated: reactivate them first (tolk user update --active=true)", c.Username)
	case err != nil:
		return err
	}
	return writeJSON(stdio.Stdout, toLinkJSON(l))
}

func userReset2FACmd(ctx context.Context, srv *server.Server, c userNamed, stdio IO) error {
	u, err := srv.Recovery.ResetTwoFactor(ctx, c.Username)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return fmt.Errorf("user %q: not found", c.Username)
	case errors.Is(err, identity.ErrNoTwoFactor):
		return fmt.Errorf("user %q has no second factor", c.Username)
	case err != nil:
		return err
	}
	return writeJSON(stdio.Stdout, toJSON(u))
}
