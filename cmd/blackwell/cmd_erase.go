package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/erase"
	"github.com/blackwellio/blackwell/internal/seal"
)

// newEraseCmd is "blackwell erase": a person's, a shop's or a client's
// data removed from the store (docs/DATA.md).
func newEraseCmd(g *globals) *cobra.Command {
	var (
		storeURL, keyFile, shop string
		subjects                []string
		all, dryRun             bool
	)
	ta := targetArgs{kind: clientTarget}
	cmd := &cobra.Command{
		Use:   "erase CLIENT (--subject EMAIL|ID ... | --shop DOMAIN | --all) [--dry-run]",
		Short: "Erase what the store holds about a person, a shop or a client",
		Long: `Delete the client's events whose payload or content id names the subject
(an email, matched in any string of a payload, or an id: a customer, order or
content id), the content-cache rows with that id, and pending notifications
that name it; or, with --shop, every Shopify event of the client and the
shop's content; or, with --all, all of the client's events, content and
notifications. The audit log records the erasure (data_erased: counts and a
SHA-256 of what was erased, never the data). --dry-run reports what would go
and records a data_request_answered entry instead.

Without --store (or BLACKWELL_STORE), asks the server
(POST /v1/clients/C/erase, an admin token; a client-scoped admin token for
its own client), which audits the erasure under the token. With --store,
works on the store directly; with sealed payloads it then needs the
server's --encryption-key-file to read them.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			client := t.client
			req := erase.Request{ClientID: client, Subject: erase.SubjectOf(subjects), Shop: strings.ToLower(shop),
				Everything: all, By: cliActor(), Reason: "cli"}
			n := 0
			for _, set := range []bool{!req.Subject.Empty(), shop != "", all} {
				if set {
					n++
				}
			}
			if n != 1 {
				return usageError{fmt.Errorf("erase needs one of --subject, --shop or --all")}
			}
			ctx := cmd.Context()
			if !cmd.Flags().Changed("store") && storeURL == defaultStoreURL {
				if keyFile != "" {
					return usageError{errors.New("--encryption-key-file is for --store: the server reads payloads with its own")}
				}
				return eraseByAPI(cmd, g, req, subjects, dryRun)
			}
			st, err := openExistingStore(ctx, storeURL)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			if st, err = seal.OpenFile(ctx, st, keyFile, log); err != nil {
				return err
			}
			defer st.Close()
			er := &erase.Eraser{Store: st}
			run, verb := er.Erase, "erased"
			if dryRun {
				run, verb = er.Find, "found"
			}
			rep, err := run(ctx, req)
			if err != nil {
				return fmt.Errorf("erase: %w", err)
			}
			if g.output == "json" {
				return writeJSON(g.stdout, rep)
			}
			printErased(g, verb, client, rep)
			return nil
		},
	}
	f := cmd.Flags()
	storeFlag(f, &storeURL)
	f.StringVar(&keyFile, "encryption-key-file", "", "the server's key file, to read sealed payloads")
	f.StringSliceVar(&subjects, "subject", nil, "an email or an id (customer, order, content) to erase; repeatable")
	f.StringVar(&shop, "shop", "", "erase every Shopify event of the client and this shop's content (acme.myshopify.com)")
	f.BoolVar(&all, "all", false, "erase all of the client's events, content and notifications")
	f.BoolVar(&dryRun, "dry-run", false, "report what would be erased (audited as a data request), erase nothing")
	bindEnv(f)
	ta.clientFlag(g, cmd, "erase")
	return cmd
}

// eraseByAPI runs the request on the server: POST /v1/clients/C/erase.
func eraseByAPI(cmd *cobra.Command, g *globals, req erase.Request, subjects []string, dryRun bool) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	body, err := json.Marshal(struct {
		Subjects []string `json:"subjects,omitempty"`
		Shop     string   `json:"shop,omitempty"`
		All      bool     `json:"all,omitempty"`
		DryRun   bool     `json:"dry_run"`
	}{subjects, req.Shop, req.Everything, dryRun})
	if err != nil {
		return err
	}
	var rep erase.Report
	raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("clients", req.ClientID, "erase"),
		body: body, ctype: "application/json"}, &rep)
	if err != nil {
		return err
	}
	if g.output == "json" {
		return g.writeRaw(raw)
	}
	verb := "erased"
	if dryRun {
		verb = "found"
	}
	printErased(g, verb, req.ClientID, rep)
	return nil
}

func printErased(g *globals, verb, client string, rep erase.Report) {
	fmt.Fprintf(g.stdout, "%s %s, %s, %s of %s (sha256 %s)\n",
		verb, count(rep.Events, "event"), count(rep.Content, "content item"), count(rep.Outbox, "notification"), client, rep.SHA256)
}
