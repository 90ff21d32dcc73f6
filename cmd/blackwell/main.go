// Command blackwell keeps composed web stacks in their declared state: it
// serves the reconciler and its API, and talks to a running server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes: 1 for a failed command (invalid config, API error), 2 for a
// usage error (unknown flag, wrong arguments).
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks an error as a usage error (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// silentError is an error already reported to the user; main only exits.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var se silentError
	if errors.As(err, &se) {
		return se.code
	}
	fmt.Fprintln(stderr, "blackwell:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// globals are the flags every command shares.
type globals struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	server         string
	output         string
	token          string
	caFile         string // --ca-file: a private CA for an https --server
	bootstrapFile  string
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "blackwell",
		Short:         "Drift detection and self-healing for composed web stacks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", envOr("BLACKWELL_SERVER", "http://127.0.0.1:8080"), "address of the blackwell API (BLACKWELL_SERVER)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json (audit export: jsonl or csv; report: json, csv or html)")
	pf.StringVar(&g.token, "token", os.Getenv("BLACKWELL_TOKEN"), "API token (BLACKWELL_TOKEN)")
	pf.StringVar(&g.caFile, "ca-file", os.Getenv("BLACKWELL_CA_FILE"), "PEM file of CA certificates trusted, besides the system's, for an https --server (BLACKWELL_CA_FILE)")
	pf.StringVar(&g.bootstrapFile, "bootstrap-token-file", os.Getenv("BLACKWELL_BOOTSTRAP_TOKEN_FILE"), "the one-time admin token's file: serve and demo write it (mode 0600) while the store holds no API token; without --token, commands talking to a server on this machine read it (BLACKWELL_BOOTSTRAP_TOKEN_FILE; default $XDG_RUNTIME_DIR/blackwell/bootstrap-PORT.token, else ~/.cache/blackwell/bootstrap-PORT.token)")

	root.AddCommand(
		newServeCmd(g),
		newDemoCmd(g),
		newVersionCmd(g),
		newVersionsCmd(g), newPolicyCmd(g), newHealsCmd(g), // cmd_versions.go, cmd_policy.go, cmd_heals.go
		newComplianceCmd(g), newExceptionCmd(g), // cmd_compliance.go, cmd_exception.go
		newSnapshotsCmd(g), newRollbacksCmd(g), // cmd_snapshots.go
		newMigrateCmd(g), newBackupCmd(g), newStoreCmd(g), // cmd_migrate.go, cmd_backup.go, cmd_store.go
		newTokenCmd(g),  // cmd_token.go
		newKeysCmd(g),   // sealing.go
		newEraseCmd(g),  // cmd_erase.go
		newLambdaCmd(g), // cmd_lambda.go
	)
	root.AddCommand(clientCommands(g)...)
	return root
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
