package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// tokenCmds manage API tokens either directly in the store (--store, for
// the first admin token, which the API cannot create without a token) or
// through the API with an admin token (--server, --token).
type tokenCmds struct {
	g        *globals
	storeURL string
}

func newTokenCmd(g *globals) *cobra.Command {
	tc := &tokenCmds{g: g}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens",
		Long: `API tokens authenticate callers of the API ("Authorization: Bearer bw_...").
Each has a role: viewer reads; operator also reconciles, acknowledges drift,
approves, rejects and rolls back; admin also applies config, patches stacks,
sets policy and manages tokens. A token created with --client sees and changes
only that client.

Until the store holds a token, the one-time bootstrap token that serve writes
to its --bootstrap-token-file acts as an unscoped admin (the CLI on the same
machine reads it by itself); the first token ends it. Create the first admin
token with it, or directly in the store, on the server's machine:

  blackwell token create --store sqlite://./blackwell.db --name ops --role admin

With --store (or BLACKWELL_STORE) these commands work on the store directly;
without, they go through the API and need an admin token (--token).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("token needs a subcommand: create, list or revoke")}
		},
	}
	cmd.AddCommand(tc.create(), tc.list(), tc.revoke())
	return cmd
}

// flags adds --store to a subcommand.
func (tc *tokenCmds) flags(f *pflag.FlagSet) {
	f.StringVar(&tc.storeURL, "store", "", "work on this store directly (sqlite://PATH or postgres://...) instead of through the API")
	bindEnv(f)
}

// withStore runs fn on the state service of --store, or returns false when
// no store was named.
func (tc *tokenCmds) withStore(ctx context.Context, fn func(*state.Service, store.Store) error) (bool, error) {
	if tc.storeURL == "" {
		return false, nil
	}
	st, err := openExistingStore(ctx, tc.storeURL)
	if err != nil {
		return true, err
	}
	defer st.Close()
	return true, fn(state.New(st, state.Options{}), st)
}

// cliActor names the person running the CLI in audit entries.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

func (tc *tokenCmds) create() *cobra.Command {
	var name, role, clientID, secretFile string
	cmd := &cobra.Command{
		Use:   "create --name NAME --role admin|operator|viewer [--client C] [--secret-file FILE]",
		Short: "Create a token; its secret is printed once",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			g := tc.g
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if name == "" || role == "" {
				return usageError{errors.New("token create needs --name and --role")}
			}
			if !store.Role(role).Valid() {
				return usageError{fmt.Errorf("--role must be admin, operator or viewer, not %q", role)}
			}
			var out struct {
				Token  store.Token `json:"token"`
				Secret string      `json:"secret"`
			}
			local, err := tc.withStore(cmd.Context(), func(svc *state.Service, _ store.Store) error {
				var err error
				out.Token, out.Secret, err = svc.CreateToken(cmd.Context(), state.NewToken{Name: name, Role: store.Role(role), ClientID: clientID}, cliActor())
				return err
			})
			if err != nil {
				return trimInvalid(err)
			}
			if !local {
				c, err := g.client()
				if err != nil {
					return err
				}
				body, _ := json.Marshal(map[string]string{"name": name, "role": role, "client_id": clientID})
				if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: "/v1/tokens", body: body}, &out); err != nil {
					return err
				}
			}
			if secretFile != "" {
				if err := os.WriteFile(secretFile, []byte(out.Secret+"\n"), 0o600); err != nil {
					return fmt.Errorf("write the secret (token %s was created; revoke it): %w", out.Token.ID, err)
				}
				out.Secret = ""
			}
			if asJSON {
				if secretFile != "" {
					return writeJSON(g.stdout, map[string]any{"token": out.Token, "secret_file": secretFile})
				}
				return writeJSON(g.stdout, out)
			}
			scope := "every client"
			if out.Token.ClientID != "" {
				scope = "client " + out.Token.ClientID
			}
			fmt.Fprintf(g.stdout, "created token %s (%s): role %s, %s\n", out.Token.ID, out.Token.Name, out.Token.Role, scope)
			if secretFile != "" {
				fmt.Fprintf(g.stdout, "secret written to %s\n", secretFile)
				return nil
			}
			fmt.Fprintf(g.stdout, "secret (shown once, not stored; keep it now): %s\n", out.Secret)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "what the token is for (shown in lists and the audit trail)")
	f.StringVar(&role, "role", "", "admin, operator or viewer")
	f.StringVar(&clientID, "client", "", "scope the token to this client")
	f.StringVar(&secretFile, "secret-file", "", "write the secret to FILE (mode 0600) instead of printing it")
	tc.flags(f)
	return cmd
}

func (tc *tokenCmds) list() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens, revoked ones too (never their secrets)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			g := tc.g
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			var tokens []store.Token
			local, err := tc.withStore(cmd.Context(), func(_ *state.Service, st store.Store) error {
				var err error
				tokens, err = st.ListTokens(cmd.Context())
				return err
			})
			if err != nil {
				return err
			}
			if !local {
				c, err := g.client()
				if err != nil {
					return err
				}
				var page wirePage[store.Token]
				if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: "/v1/tokens"}, &page); err != nil {
					return err
				}
				tokens = page.Items
			}
			if tokens == nil {
				tokens = []store.Token{}
			}
			if asJSON {
				return writeJSON(g.stdout, wirePage[store.Token]{Items: tokens})
			}
			tw := newTable(g.stdout, "ID", "NAME", "ROLE", "CLIENT", "CREATED", "LAST USED", "REVOKED")
			for _, t := range tokens {
				created := t.CreatedAt
				row(tw, t.ID, t.Name, string(t.Role), t.ClientID, formatTime(&created), formatTime(t.LastUsedAt), formatTime(t.RevokedAt))
			}
			return tw.Flush()
		},
	}
	tc.flags(cmd.Flags())
	return cmd
}

func (tc *tokenCmds) revoke() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: the API refuses it from the next request on",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g := tc.g
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			id := args[0]
			var t store.Token
			local, err := tc.withStore(cmd.Context(), func(svc *state.Service, _ store.Store) error {
				var err error
				t, err = svc.RevokeToken(cmd.Context(), id, cliActor())
				return err
			})
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no token %s", id)
			}
			if err != nil {
				return err
			}
			if !local {
				c, err := g.client()
				if err != nil {
					return err
				}
				if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("tokens", id, "revoke")}, &t); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(g.stdout, t)
			}
			at := time.Time{}
			if t.RevokedAt != nil {
				at = *t.RevokedAt
			}
			fmt.Fprintf(g.stdout, "revoked token %s (%s) at %s\n", t.ID, t.Name, at.UTC().Format(time.RFC3339))
			return nil
		},
	}
	tc.flags(cmd.Flags())
	return cmd
}

// trimInvalid shows a state.ErrInvalid without its "invalid: " prefix.
func trimInvalid(err error) error {
	if errors.Is(err, state.ErrInvalid) {
		msg := err.Error()
		if len(msg) > len("invalid: ") && msg[:len("invalid: ")] == "invalid: " {
			return errors.New(msg[len("invalid: "):])
		}
	}
	return err
}
