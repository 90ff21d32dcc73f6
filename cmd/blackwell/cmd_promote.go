package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// wirePromotion is a promotion as the API answers it (store.Promotion).
type wirePromotion struct {
	ID              string          `json:"id"`
	ClientID        string          `json:"client_id"`
	App             string          `json:"app"`
	From            string          `json:"from"`
	To              string          `json:"to"`
	ToStack         string          `json:"to_stack"`
	FromVersion     string          `json:"from_version"`
	PreviousVersion string          `json:"previous_version"`
	NewVersion      string          `json:"new_version"`
	Status          string          `json:"status"`
	ApprovalID      string          `json:"approval_id"`
	Evidence        json.RawMessage `json:"evidence"`
	Error           string          `json:"error"`
	RequestedBy     string          `json:"requested_by"`
	CreatedAt       time.Time       `json:"created_at"`
	CompletedAt     *time.Time      `json:"completed_at"`
}

// settled reports whether the promotion has ended or waits for a person.
func (p wirePromotion) settled() bool {
	switch p.Status {
	case "applying", "verifying":
		return false
	}
	return true
}

// describe is one line about where a promotion is.
func (p wirePromotion) describe() string {
	key := p.ClientID + "/" + p.App
	switch p.Status {
	case "awaiting_approval":
		return fmt.Sprintf("promotion %s of %s (%s -> %s) awaits approval: blackwell approve %s", p.ID, key, p.From, p.To, p.ApprovalID)
	case "succeeded":
		return fmt.Sprintf("promoted %s from %s to %s: %s is now %s, verified", key, p.From, p.To, p.ToStack, p.NewVersion)
	case "rolled_back":
		return fmt.Sprintf("promotion %s of %s rolled back to the desired state of %s: %s", p.ID, key, p.PreviousVersion, p.Error)
	case "failed", "rejected":
		return fmt.Sprintf("promotion %s of %s %s: %s", p.ID, key, p.Status, p.Error)
	}
	return fmt.Sprintf("promotion %s of %s (%s -> %s) is %s", p.ID, key, p.From, p.To, p.Status)
}

type wirePromotionPlan struct {
	FromStack     string           `json:"from_stack"`
	ToStack       string           `json:"to_stack"`
	FromVersion   string           `json:"from_version"`
	ToVersion     string           `json:"to_version"`
	Changes       []planChangeItem `json:"changes"`
	NeedsApproval bool             `json:"needs_approval"`
}

func newPromoteCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget}
	var (
		from, to string
		dryRun   bool
		wait     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "promote CLIENT/APP --from ENV --to ENV [--dry-run] [--wait DURATION]",
		Short: "Promote an application's release from one environment to the next",
		Long: `Make the release of one environment of an application (its stacks share
metadata.app, or the stack id without its -ENVIRONMENT suffix) the desired
state of the next environment of its pipeline: the source's composition, with
the target's overridden fields kept. The plan is printed as a diff. The
promotion is refused, with nothing changed, for an unknown application or
environment, a target that is not the next stage, a target pinned by a
rollback's hold, a source whose release has not soaked (the remaining time is
given) or is not verified healthy. A target whose stage needs approval (prod
by default) waits for "blackwell approve ID". Once applied, the promotion is
verified on fresh passes of the new revision and rolled back automatically
when verification fails. --dry-run prints the plan only; --wait (at most 15m)
waits for the promotion to end or to wait for approval.
"blackwell promotions CLIENT/APP" lists them.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			if from == "" || to == "" {
				return usageError{fmt.Errorf("promote wants --from ENV and --to ENV")}
			}
			if wait < 0 || wait > 15*time.Minute {
				return usageError{fmt.Errorf("--wait must be between 0 and 15m, not %s", wait)}
			}
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			body, err := json.Marshal(map[string]any{"from": from, "to": to, "by": envOr("USER", "cli"), "dry_run": dryRun})
			if err != nil {
				return err
			}
			var res struct {
				Promotion *wirePromotion    `json:"promotion"`
				Plan      wirePromotionPlan `json:"plan"`
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("clients", t.client, "apps", t.stack, "promotions"), body: body}, &res)
			if err != nil {
				return err
			}
			if asJSON && (dryRun || wait == 0) {
				return g.writeRaw(raw)
			}
			if !asJSON {
				fmt.Fprintf(g.stdout, "%s/%s %s (%s) -> %s (%s at %s):\n", t.client, t.stack, from, res.Plan.FromVersion, to, res.Plan.ToStack, res.Plan.ToVersion)
				printChanges(g.stdout, res.Plan.Changes, func(op string) string { return op })
			}
			if dryRun {
				return nil
			}
			p := *res.Promotion
			if wait > 0 {
				if p, err = awaitPromotion(cmd, c, p, wait); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(g.stdout, p)
			}
			_, err = fmt.Fprintln(g.stdout, p.describe())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the source environment (dev, staging)")
	f.StringVar(&to, "to", "", "the target environment: the next stage of the pipeline")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan only; change nothing")
	f.DurationVar(&wait, "wait", 0, "wait up to this long for the promotion to end or await approval (at most 15m)")
	return cmd
}

// awaitPromotion reads the promotion every second until it settles or
// wait ends (then it answers where it is).
func awaitPromotion(cmd *cobra.Command, c *apiClient, p wirePromotion, wait time.Duration) (wirePromotion, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for !p.settled() {
		select {
		case <-deadline.C:
			return p, nil
		case <-cmd.Context().Done():
			return p, cmd.Context().Err()
		case <-tick.C:
		}
		path := pathOf("clients", p.ClientID, "apps", p.App, "promotions", p.ID)
		if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: path}, &p); err != nil {
			return p, err
		}
	}
	return p, nil
}

func newPromotionsCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget}
	return &cobra.Command{
		Use:   "promotions CLIENT/APP",
		Short: "List an application's promotions, newest first",
		Long: `List the promotions of an application: from and to, versions, status, and
who asked. -o json prints {"items": [...], "next_cursor": ""} with each
promotion's plan and verification evidence.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, asJSON, c, err := ta.read(cmd, args, g)
			if err != nil {
				return err
			}
			items := []json.RawMessage{}
			if err := listAll(cmd, c, pathOf("clients", t.client, "apps", t.stack, "promotions"), nil, &items); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g.stdout, wirePage[json.RawMessage]{Items: items})
			}
			if len(items) == 0 {
				_, err := fmt.Fprintf(g.stdout, "no promotions of %s\n", t)
				return err
			}
			tw := newTable(g.stdout, "ID", "FROM", "TO", "VERSION", "PREVIOUS", "NEW", "STATUS", "BY", "CREATED")
			for _, raw := range items {
				var p wirePromotion
				if err := json.Unmarshal(raw, &p); err != nil {
					return err
				}
				row(tw, p.ID, p.From, p.To, p.FromVersion, p.PreviousVersion, orDash(p.NewVersion), p.Status, p.RequestedBy, formatTime(&p.CreatedAt))
			}
			return tw.Flush()
		},
	}
}
