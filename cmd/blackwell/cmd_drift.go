package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/drift"
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
	Confidence     string     `json:"confidence"`
	Evidence       *struct {
		Observations int    `json:"observations"`
		Span         string `json:"span"`
	} `json:"evidence"`
}

// evidence is a drift's evidence for a table cell: "3 obs over 1m30s".
func (d wireDrift) evidence() string {
	if d.Evidence == nil {
		return "-"
	}
	return fmt.Sprintf("%d obs over %s", d.Evidence.Observations, d.Evidence.Span)
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
	var (
		all, follow bool
		severity    string
		reconnect   time.Duration
	)
	ta := targetArgs{kind: clientTarget}
	cmd := &cobra.Command{
		Use:   "drift CLIENT [--all] [-w|--follow [--severity S]]",
		Short: "Show a client's open drift; --follow prints drift events as they happen",
		Long: `Show the confirmed open drift of every stack of a client; --all also shows
drift still waiting for confirmation.

With --follow, print each drift event of the client as it happens (detected,
resolved, acknowledged), read from the server's event stream (GET
/v1/stream), until interrupted; --severity keeps those of that severity or
higher. If the server drops the stream (a restart), it reconnects and
resumes after the last event it printed. -o json prints each event as one
JSON line.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if follow {
				f := &driftFollower{c: c, g: g, clientID: args[0], severity: severity, json: asJSON, reconnect: reconnect}
				return f.run(cmd.Context())
			}
			if severity != "" {
				return usageError{errors.New("--severity needs --follow")}
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
			tw := newTable(g.stdout, "ID", "STACK", "CODE", "SEVERITY", "COMPONENT", "EXPECTED", "OBSERVED", "CONFIRMED", "ACK", "EVIDENCE")
			for _, d := range st.DriftDetails {
				expected, observed := driftValues(d.Code, d.Expected, d.Observed)
				row(tw, d.ID, d.StackID, d.Code, d.Severity, d.Component, expected, observed,
					yesNo(d.Confirmed), yesNo(d.Acknowledged), d.evidence())
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
	followFlag(g, cmd, &follow, "print drift events as they happen, until interrupted")
	cmd.Flags().StringVar(&severity, "severity", "", "with --follow: only events of this severity or higher (low, medium, high, critical)")
	cmd.Flags().DurationVar(&reconnect, "reconnect-interval", 2*time.Second, "with --follow: how long to wait before reconnecting to a dropped stream")
	return cmd
}

// followFlag adds -w/--follow, its synonym --watch and the old -f.
func followFlag(g *globals, cmd *cobra.Command, p *bool, usage string) {
	cmd.Flags().BoolVarP(p, "follow", "w", false, usage)
	g.alias(cmd, "follow", "watch", "", "", "")
	g.alias(cmd, "follow", "f", "f", cmd.Name()+" -f", cmd.Name()+" --follow (or -w)")
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newAckCmd(g *globals) *cobra.Command {
	var reason, note, by string
	ta := targetArgs{kind: clientTarget, extra: 1}
	cmd := &cobra.Command{
		Use:   "ack CLIENT DRIFT_ID --reason false_positive|accepted|fixed_by_hand [--note TEXT]",
		Short: "Acknowledge an open drift, saying why",
		Long: `Acknowledge an open drift: a person owns it, and Blackwell stops healing it.
The reason is required and is one of:

  false_positive  the drift was not real: the detection was wrong
  accepted        the drift is real and is kept as it is, for now
  fixed_by_hand   the drift is real and a person fixes it outside Blackwell

The reason, the note and who acknowledged are recorded in the audit log,
where the KPI report (blackwell report) counts false positives from it.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := drift.ParseAckReason(reason); err != nil {
				return usageError{fmt.Errorf("--reason: %w", err)}
			}
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
			body, err := json.Marshal(map[string]string{"by": by, "reason": reason, "note": note})
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
			_, err = fmt.Fprintf(g.stdout, "acknowledged %s as %s: %s %s %s (%s)\n", d.ID, reason, d.StackID, d.Code, d.Component, d.Severity)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why: false_positive, accepted or fixed_by_hand (required; recorded in the audit log)")
	cmd.Flags().StringVar(&note, "note", "", "free text recorded with the acknowledgement")
	cmd.Flags().StringVar(&by, "by", "", "who acknowledges (default $USER)")
	return cmd
}

// driftFollower is blackwell drift --follow: a client of the server's
// event stream that reconnects with Last-Event-ID.
type driftFollower struct {
	c         *apiClient
	g         *globals
	clientID  string
	severity  string
	json      bool
	reconnect time.Duration

	lastID  string // the id of the last event printed
	printed bool   // the table header is out
}

// wireStreamEvent is a drift event of the stream.
type wireStreamEvent struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		StackID   string `json:"stack_id"`
		DriftID   string `json:"drift_id"`
		Code      string `json:"code"`
		Severity  string `json:"severity"`
		Component string `json:"component"`
		Expected  any    `json:"expected"`
		Observed  any    `json:"observed"`
		By        string `json:"by"`
	} `json:"data"`
}

func (f *driftFollower) run(ctx context.Context) error {
	if f.reconnect <= 0 {
		f.reconnect = 2 * time.Second
	}
	if f.severity != "" && !validSeverity(f.severity) {
		return usageError{fmt.Errorf("--severity %q: want low, medium, high or critical", f.severity)}
	}
	dropped := false
	for {
		err := f.stream(ctx, func() {
			if dropped {
				fmt.Fprintln(f.g.stderr, "blackwell: drift: reconnected")
				dropped = false
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		var we *wireError
		if errors.As(err, &we) && we.Status >= 400 && we.Status < 500 {
			return err
		}
		if !dropped {
			why := "the server ended the stream"
			if err != nil {
				why = err.Error()
			}
			fmt.Fprintf(f.g.stderr, "blackwell: drift: %s (reconnecting every %s)\n", why, f.reconnect)
			dropped = true
		}
		t := time.NewTimer(f.reconnect)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func validSeverity(s string) bool {
	switch s {
	case "low", "medium", "high", "critical":
		return true
	}
	return false
}

// stream reads one connection of the stream until it ends; connected is
// called once the server accepted it.
func (f *driftFollower) stream(ctx context.Context, connected func()) error {
	q := url.Values{}
	q.Set("client_id", f.clientID)
	q.Set("kind", "drift.")
	if f.severity != "" {
		q.Set("severity", f.severity)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.c.base.String()+"/v1/stream?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if f.lastID != "" {
		req.Header.Set("Last-Event-ID", f.lastID)
	}
	if f.c.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.c.token)
	}
	resp, err := f.c.http.Do(req)
	if err != nil {
		return f.c.connError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeAPIError(resp, data)
	}
	connected()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var id, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				if err := f.print(data); err != nil {
					return err
				}
				if id != "" {
					f.lastID = id
				}
			}
			id, data = "", ""
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimPrefix(line[5:], " ")
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read the event stream of %s: %w", f.c.origin(), err)
	}
	return nil
}

// driftFollowWidths are the column widths of the --follow table: TIME,
// EVENT (acknowledged is the longest), STACK, CODE (the longest code),
// SEVERITY, COMPONENT, EXPECTED, OBSERVED; the drift id last, whole.
var driftFollowWidths = []int{20, 12, 14, 22, 8, 28, 16, 16, 0}

// print writes one event: a JSON line, or a table row (the header first).
func (f *driftFollower) print(data string) error {
	if f.json {
		_, err := io.WriteString(f.g.stdout, data+"\n")
		return err
	}
	var e wireStreamEvent
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return fmt.Errorf("%s sent an event that is not the expected JSON: %v", f.c.origin(), err)
	}
	var b strings.Builder
	if !f.printed {
		b.WriteString(paddedRow(driftFollowWidths, "TIME", "EVENT", "STACK", "CODE", "SEVERITY", "COMPONENT", "EXPECTED", "OBSERVED", "DRIFT"))
		f.printed = true
	}
	b.WriteString(paddedRow(driftFollowWidths, driftEventCells(e)...))
	_, err := io.WriteString(f.g.stdout, b.String())
	return err
}

// driftEventCells are the cells of a drift event's row. A resolved drift
// is observed as expected now: the observation its event carries is the
// last one of the drift, from before it cleared, and is not shown. Who
// acknowledged goes in the last column, which is never cut.
func driftEventCells(e wireStreamEvent) []string {
	expected, observed := driftValues(e.Data.Code, e.Data.Expected, e.Data.Observed)
	if e.Kind == "drift.resolved" {
		observed = "as expected"
	}
	last := e.Data.DriftID
	if e.Data.By != "" {
		last += " by " + e.Data.By
	}
	return []string{e.Timestamp.UTC().Format(time.RFC3339), strings.TrimPrefix(e.Kind, "drift."), e.Data.StackID, e.Data.Code,
		e.Data.Severity, e.Data.Component, expected, observed, last}
}

// paddedRow lays out a row of a table that grows a row at a time (so no
// tabwriter): each cell cut to its width (with "…") and padded to it, so
// that the columns of every row line up; the last cell is whole.
func paddedRow(widths []int, cells ...string) string {
	var b strings.Builder
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		c = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		if widths[i] > 0 {
			c = truncate(c, widths[i])
		}
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", max(2, widths[i]-utf8.RuneCountInString(c)+2)))
	}
	b.WriteByte('\n')
	return b.String()
}
