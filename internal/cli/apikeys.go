package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tolk-project/tolk/internal/core/apikey"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
)

// apiKeyCmd is `tolk apikey …` (SPEC §1, §3.4).
type apiKeyCmd struct {
	Create struct {
		Username string `required:"" help:"The user the key acts as."`
		Note     string `help:"What the key is for (at most 255 characters)."`
	} `cmd:"" help:"Create an API key for a user; prints {\"id\",\"key\",\"note\"} (the key only here)."`
	List   struct{} `cmd:"" help:"List API keys as a JSON array (without the keys)."`
	Revoke struct {
		ID string `arg:"" help:"Key id"`
	} `cmd:"" help:"Revoke an API key; it stops working at once."`
}

type apiKeyJSON struct {
	ID        string  `json:"id"`
	UserUID   string  `json:"user_uid"`
	UserName  string  `json:"username,omitempty"`
	Note      string  `json:"note"`
	CreatedAt string  `json:"created_at"`
	RevokedAt *string `json:"revoked_at"`
}

// apiKeyRun runs the apikey subcommand cmd.
func apiKeyRun(ctx context.Context, srv *server.Server, cmd string, c apiKeyCmd, io IO) error {
	switch cmd {
	case "apikey create":
		k, key, err := srv.APIKeys.CreateFor(ctx, c.Create.Username, c.Create.Note)
		if errors.Is(err, apikey.ErrUnknownUser) {
			return fmt.Errorf("no active user %q", c.Create.Username)
		}
		if err != nil {
			return err
		}
		return writeJSON(io.Stdout, map[string]string{"id": k.ID, "key": key, "note": k.Note})
	case "apikey list":
		ks, err := srv.APIKeys.List(ctx, "")
		if err != nil {
			return err
		}
		users, err := srv.Store.ListUsers(ctx)
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, u := range users {
			names[u.UID] = u.UserName
		}
		out := make([]apiKeyJSON, 0, len(ks))
		for _, k := range ks {
			out = append(out, toAPIKeyJSON(k, names[k.UserUID]))
		}
		return writeJSON(io.Stdout, out)
	case "apikey revoke <id>":
		if err := srv.APIKeys.Revoke(ctx, "", c.Revoke.ID); errors.Is(err, apikey.ErrNotFound) {
			return fmt.Errorf("no API key %q", c.Revoke.ID)
		} else if err != nil {
			return err
		}
		fmt.Fprintln(io.Stdout, "revoked", c.Revoke.ID)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func toAPIKeyJSON(k store.APIKey, userName string) apiKeyJSON {
	out := apiKeyJSON{ID: k.ID, UserUID: k.UserUID, UserName: userName, Note: k.Note,
		CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339)}
	if !k.RevokedAt.IsZero() {
		r := k.RevokedAt.UTC().Format(time.RFC3339)
		out.RevokedAt = &r
	}
	return out
}
