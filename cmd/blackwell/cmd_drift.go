package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// wireDrift is a drift as the API answers it.
type wireDrift struct {
	ID             string     `json:"id"`
	ClientID       string     `json:"client_id"`
	StackID        string     `json:"stack_id"`
	Code           string     `json:"code"`
	Type           string     `json:"type"`
	Component      string     `json:"component"`
	Expected       any        `json:"expected"`
	Observed       any        `json:"observed"`
	Severity       string     `json:"severity"`
	Cause          string     `json:"cause"`
	DetectedAt     *time.Time `json:"detected_at"`
	Confirmed      bool       `json:"confirmed"`
	Acknowledged   bool       `json:"acknowledged"`
	AcknowledgedBy string     `json:"acknowledged_by"`
}

// wireDriftStatus is the API's DriftStatus.
type wireDriftStatus struct {
	ClientID         string      `json:"client_id"`
	HasDrift         bool        `json:"has_drift"`
	DriftCount       int         `json:"drift_count"`
	LastDetected     *time.Time  `json:"last_detected"`
	DriftDetails     []wireDrift `json:"drift_details"`
	AutoHealEligible bool        `json:"auto_heal_eligible"`
}

// getDrift reads a client's drift status.
func (c *apiClient) getDrift(cmd *cobra.Command, clientID string, all bool) (wireDriftStatus, json.RawMessage, error) {
	q := url.Values{}
	if all {
		q.Set("all", "true")
	}
	var st wireDriftStatus
	raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("clients", clientID, "drift"), query: q}, &st)
	return st, raw, err
}

func newDriftCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "drift CLIENT [--all]",
		Short: "Show a client's open drift",
		Long: `Show the confirmed open drift of every stack of a client; --all also shows
drift still waiting for confirmation.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, raw, err := c.getDrift(cmd, args[0], all)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if len(st.DriftDetails) == 0 {
				_, err := fmt.Fprintf(g.stdout, "no drift for %s\n", st.ClientID)
				return err
			}
			tw := newTable(g.stdout, "ID", "STACK", "CODE", "SEVERITY", "COMPONENT", "EXPECTED", "OBSERVED", "CONFIRMED", "ACK")
			for _, d := range st.DriftDetails {
				row(tw, d.ID, d.StackID, d.Code, d.Severity, d.Component, compactValue(d.Expected), compactValue(d.Observed), yesNo(d.Confirmed), yesNo(d.Acknowledged))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			eligible := ""
			if st.AutoHealEligible {
				eligible = "; auto-heal eligible"
			}
			_, err = fmt.Fprintf(g.stdout, "%d confirmed drift%s%s\n", st.DriftCount, pluralS(st.DriftCount), eligible)
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also show drift not confirmed yet")
	return cmd
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newAckCmd(g *globals) *cobra.Command {
	var reason, by string
	cmd := &cobra.Command{
		Use:   "ack CLIENT DRIFT_ID [--reason TEXT]",
		Short: "Acknowledge an open drift",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if by == "" {
				by = envOr("USER", "cli")
			}
			body, err := json.Marshal(map[string]string{"by": by, "reason": reason})
			if err != nil {
				return err
			}
			var d wireDrift
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("clients", args[0], "drift", args[1], "ack"), body: body}, &d)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			_, err = fmt.Fprintf(g.stdout, "acknowledged %s: %s %s %s (%s)\n", d.ID, d.StackID, d.Code, d.Component, d.Severity)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the drift is acknowledged (recorded in the audit log)")
	cmd.Flags().StringVar(&by, "by", "", "who acknowledges (default $USER)")
	return cmd
}
