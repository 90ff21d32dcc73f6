package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/seal"
)

// newKeysCmd is "blackwell keys": the key-encryption keys of payload
// sealing (docs/DATA.md).
func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Make and rotate the keys that seal stored payloads",
		Long: `serve --encryption-key-file FILE seals webhook payloads and notification
bodies in the store with AES-256-GCM under data keys, which the store keeps
wrapped by a key-encryption key of FILE. FILE holds one key a line,
"id:base64" of 32 random bytes, the first one current.

  blackwell keys generate --id k1 >> keys.txt   # then chmod 600 keys.txt
  blackwell keys rotate --store URL --encryption-key-file keys.txt`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("keys needs a subcommand: generate or rotate")}
		},
	}
	cmd.AddCommand(newKeysGenerateCmd(g), newKeysRotateCmd(g))
	return cmd
}

func newKeysGenerateCmd(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Print a new key-encryption key line (id:base64)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := seal.NewKeyLine(id)
			if err != nil {
				return usageError{err}
			}
			_, err = fmt.Fprintln(g.stdout, line)
			return err
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "the key's id (letters, digits, '.', '_', '-')")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func newKeysRotateCmd(g *globals) *cobra.Command {
	var (
		storeURL, keyFile string
		batch             int
	)
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Seal every stored payload under a new data key, wrapped by the file's first key",
		Long: `Make a new data key wrapped by the first key of --encryption-key-file, wrap
every older data key with that key too (after which the file's other keys may
be removed), and re-seal every event and outbox payload under the new key, in
batches, each row only if it did not change meanwhile. Servers may keep
running: they seal with the new key within a minute, rows they write before
that stay readable, and a second rotate re-seals them. On a store whose
payloads are not sealed yet, this seals them.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				return usageError{fmt.Errorf("--encryption-key-file is required")}
			}
			kr, err := seal.ReadKeyFile(keyFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openExistingStore(ctx, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			log := slog.New(slog.NewTextHandler(g.stderr, nil))
			rep, err := seal.Rotate(ctx, st, kr, seal.RotateOptions{Batch: batch, Logger: log})
			if err != nil {
				return fmt.Errorf("rotate: %w (rows re-sealed so far stay readable; run it again)", err)
			}
			if g.output == "json" {
				return writeJSON(g.stdout, rep)
			}
			fmt.Fprintf(g.stdout, "data key %s (wrapped by %s); %d older data keys re-wrapped; re-sealed %d events and %d outbox items",
				rep.DataKey, rep.KEK, rep.Rewrapped, rep.Events, rep.Outbox)
			if rep.Skipped > 0 {
				fmt.Fprintf(g.stdout, "; %d rows changed meanwhile (run it again to re-seal them)", rep.Skipped)
			}
			fmt.Fprintln(g.stdout)
			return nil
		},
	}
	f := cmd.Flags()
	storeFlag(f, &storeURL)
	f.StringVar(&keyFile, "encryption-key-file", "", "key file: lines id:base64 (32 bytes), the first current")
	f.IntVar(&batch, "batch", 500, "rows re-sealed per transaction")
	bindEnv(f)
	return cmd
}
