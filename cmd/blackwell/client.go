package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// clientCommands are the commands that talk to a running server's API (and
// validate, which works on a local file).
func clientCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newValidateCmd(g),
		newPlanCmd(g),
		newApplyCmd(g),
		newStatusCmd(g),
		newDriftCmd(g),
		newForecastCmd(g), // cmd_forecast.go
		newAckCmd(g),
		newApprovalsCmd(g),
		newDecisionCmd(g, true),
		newDecisionCmd(g, false),
		newReconcileCmd(g),
		newHistoryCmd(g),
		newEventsCmd(g),
		newRollbackCmd(g),
		newDeleteCmd(g),     // cmd_delete.go
		newUnpinCmd(g),      // cmd_unpin.go
		newPromoteCmd(g),    // cmd_promote.go
		newPromotionsCmd(g), // cmd_promote.go
		newAuditCmd(g),
		newExportCmd(g),
		newReportCmd(g), // cmd_report.go
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonOutput reports whether -o json was asked for; an unknown format is a
// usage error.
func (g *globals) jsonOutput() (bool, error) {
	switch g.output {
	case "json":
		return true, nil
	case "table", "":
		return false, nil
	}
	return false, usageError{fmt.Errorf("unknown output format %q: want table or json", g.output)}
}

// defaultRequestTimeout bounds a request whose context has no deadline.
const defaultRequestTimeout = time.Minute

// apiClient talks to the blackwell API named by --server.
type apiClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

// client returns an API client for --server and --token.
func (g *globals) client() (*apiClient, error) {
	raw := strings.TrimSpace(g.server)
	if raw == "" {
		return nil, usageError{errors.New("--server is empty")}
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, usageError{fmt.Errorf("--server %q is not an http(s) address like http://127.0.0.1:8080", g.server)}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	hc, err := g.httpClient()
	if err != nil {
		return nil, err
	}
	token := g.token
	if token == "" {
		token = g.bootstrapToken(u) // bootstrap.go
	}
	return &apiClient{base: u, token: token, http: hc}, nil
}

// httpClient is the client of the API: the system's roots, plus the
// certificates of --ca-file (a private CA) when given.
func (g *globals) httpClient() (*http.Client, error) {
	if g.caFile == "" {
		return &http.Client{}, nil
	}
	pem, err := os.ReadFile(g.caFile)
	if err != nil {
		return nil, usageError{fmt.Errorf("--ca-file: %w", err)}
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, usageError{fmt.Errorf("--ca-file %s holds no PEM certificate", g.caFile)}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}

// wireError is an error answer of the API.
type wireError struct {
	Status  int
	Code    string
	Message string
	Details []configProblem
}

// configProblem is one positional problem of a configuration.
type configProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (p configProblem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File + ":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Line, p.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(p.Message)
	return b.String()
}

func (e *wireError) Error() string { return e.Message }

// apiRequest is one API call.
type apiRequest struct {
	method string
	path   string // with the /v1 prefix; path segments already escaped
	query  url.Values
	body   []byte
	ctype  string
	header map[string]string
}

// do performs a request and decodes a 2xx JSON answer into out (when not
// nil). It returns the raw answer too, for -o json. A non-2xx answer is an
// *wireError.
func (c *apiClient) do(ctx context.Context, req apiRequest, out any) (json.RawMessage, int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultRequestTimeout)
		defer cancel()
	}
	target := c.base.String() + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	hr.Header.Set("Accept", "application/json")
	if req.body != nil {
		ct := req.ctype
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, 0, c.connError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("read answer of %s: %w", c.origin(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.StatusCode, decodeAPIError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, resp.StatusCode, fmt.Errorf("%s answered %s %s with something that is not the expected JSON: %v", c.origin(), req.method, req.path, err)
		}
	}
	return data, resp.StatusCode, nil
}

// origin is the server address without credentials or query, for messages.
func (c *apiClient) origin() string {
	u := url.URL{Scheme: c.base.Scheme, Host: c.base.Host, Path: c.base.Path}
	return u.String()
}

// connError explains a failure to reach the server.
func (c *apiClient) connError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the blackwell server at %s: connection refused (is \"blackwell serve\" running there? set --server or BLACKWELL_SERVER)", c.origin())
	}
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		return fmt.Errorf("cannot reach the blackwell server at %s: its certificate is signed by an authority this machine does not trust (for a private CA, pass --ca-file or set BLACKWELL_CA_FILE)", c.origin())
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return fmt.Errorf("cannot reach the blackwell server at %s: its certificate is not valid for %s (%v)", c.origin(), c.base.Hostname(), hostErr)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot reach the blackwell server at %s: unknown host %s", c.origin(), dnsErr.Name)
	}
	var uerr *url.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &uerr) && uerr.Timeout() {
		return fmt.Errorf("cannot reach the blackwell server at %s: timed out", c.origin())
	}
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fmt.Errorf("cannot reach the blackwell server at %s: %v", c.origin(), err)
}

// decodeAPIError reads an error answer: the API's JSON error shape, or a
// description of whatever else answered.
func decodeAPIError(resp *http.Response, data []byte) error {
	var body struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details []configProblem `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err == nil && body.Error.Message != "" {
		return &wireError{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message, Details: body.Error.Details}
	}
	return &wireError{Status: resp.StatusCode, Code: "http", Message: fmt.Sprintf("the server answered %s", resp.Status)}
}

// reportConfigProblems prints the problems of an invalid_config answer as
// file:line:column: message lines and returns the error to end with.
func (g *globals) reportConfigProblems(err error) error {
	var ae *wireError
	if !errors.As(err, &ae) || ae.Code != "invalid_config" || len(ae.Details) == 0 {
		return err
	}
	for _, p := range ae.Details {
		fmt.Fprintln(g.stderr, p.String())
	}
	return silentError{exitFailure}
}

// pathOf joins escaped path segments under /v1.
func pathOf(segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// newTable returns a tabwriter for a table on w; call Flush when done.
func newTable(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

// row writes one table row; empty cells are shown as "-".
func row(tw *tabwriter.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cells[i])
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// formatTime is a time for a table: UTC, seconds; "-" when zero.
func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// compactValue renders an any value from JSON for a table cell.
func compactValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		return truncate(x, 40)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return truncate(string(b), 40)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// yesNo renders a boolean for a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeRaw prints a raw API answer, indented (-o json).
func (g *globals) writeRaw(raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		buf.Reset()
		buf.Write(bytes.TrimSpace(raw))
	}
	buf.WriteByte('\n')
	_, err := g.stdout.Write(buf.Bytes())
	return err
}

// driftValues renders a drift's expected and observed values for a table.
// config_pending holds two desired-state hashes, which say nothing
// truncated to a column: they are named and shortened instead.
func driftValues(code string, expected, observed any) (string, string) {
	if code == "config_pending" {
		named := func(what string, v any) string {
			h, ok := v.(string)
			switch {
			case !ok:
				return compactValue(v)
			case h == "" || h == "none":
				return what + " none (never applied)"
			case len(h) > 12:
				h = h[:12]
			}
			return what + " " + h
		}
		return named("desired hash", expected), named("applied hash", observed)
	}
	return compactValue(expected), compactValue(observed)
}
