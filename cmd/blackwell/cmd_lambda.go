package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/seal"
	bwserver "github.com/blackwellio/blackwell/internal/server"
)

// newLambdaCmd is "blackwell lambda": the AWS Lambda entry point
// (internal/server/lambda.go has the handler).
func newLambdaCmd(g *globals) *cobra.Command {
	oo := onceOptions{}
	var maxBody int64
	cmd := &cobra.Command{
		Use:   "lambda [-f FILE] [--store URL]",
		Short: "Run as an AWS Lambda function: scheduled passes and webhook receivers",
		Long: `Run inside AWS Lambda (the runtime API's address in AWS_LAMBDA_RUNTIME_API).
The config (--config, when the file exists) is applied to --store when the
function's environment starts. Each invocation is then either an EventBridge
scheduled event, handled as "reconcile --once" over every stack, or an HTTP
request of an API Gateway HTTP API or a function URL (payload format 2.0),
handled as serve's webhook receivers (POST /v1/webhooks/PROVIDER/CLIENT[/STACK]).
Flags also come from BLACKWELL_<FLAG>. See docs/AWS.md.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
				return usageError{fmt.Errorf("blackwell lambda runs inside AWS Lambda: AWS_LAMBDA_RUNTIME_API is unset (for a pass here, reconcile --once)")}
			}
			oo.configRequired = cmd.Flags().Changed("config") || os.Getenv("BLACKWELL_CONFIG") != ""
			h, err := newLambdaHandler(cmd, g, oo, maxBody)
			if err != nil {
				return err
			}
			lambda.StartWithOptions(h, lambda.WithContext(cmd.Context()))
			return nil
		},
	}
	oo.register(cmd, "")
	cmd.Flags().Int64Var(&maxBody, "webhook-max-body", 0, "largest webhook body accepted, in bytes (0: serve's default)")
	return cmd
}

// newLambdaHandler loads the config, opens the store and assembles the
// handler.
func newLambdaHandler(cmd *cobra.Command, g *globals, oo onceOptions, maxBody int64) (*bwserver.Lambda, error) {
	ctx := cmd.Context()
	eg, err := parseEgressAllow(oo.egressAllow) // egress.go
	if err != nil {
		return nil, err
	}
	getenv := os.LookupEnv
	log := slog.New(slog.NewJSONHandler(g.stderr, logOptions(slog.LevelInfo)))
	cfg, err := oo.loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	st, err := openExistingStore(ctx, oo.storeURL)
	if err != nil {
		return nil, err
	}
	if st, err = seal.OpenFile(ctx, st, oo.encryptionKeyFile, log); err != nil {
		return nil, err
	}
	h, err := bwserver.NewLambda(ctx, bwserver.LambdaOptions{Store: st, Config: cfg, ConfigSource: "config:" + oo.configPath,
		WebhookMaxBody: maxBody,
		Once: bwserver.OnceOptions{Getenv: getenv, Logger: log, Egress: eg, PublicURL: oo.publicURL, Workers: oo.workers,
			AllowCommandBuilds: oo.tenancy.allowCommandBuilds}})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return h, nil
}
