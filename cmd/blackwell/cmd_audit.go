package main

import (
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify or export the hash-chained audit trail",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("audit needs a subcommand: verify, export, prune, sign or keygen")}
		},
	}
	cmd.AddCommand(newAuditVerifyCmd(g), newAuditExportCmd(g), newAuditPruneCmd(g), newAuditSignCmd(g), newAuditKeygenCmd(g))
	return cmd
}

// auditFilter is the query of GET /v1/audit: client, action, since, until
// (empty: no filter).
type auditFilter struct {
	clientID, action, since, until string
	// chain "whole" asks for every entry or an error (audit verify).
	chain string
}

// eachAudit pages through GET /v1/audit, oldest first.
func eachAudit(ctx context.Context, c *apiClient, f auditFilter, fn func(store.AuditEntry) error) error {
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		for k, v := range map[string]string{"cursor": cursor, "client_id": f.clientID, "action": f.action, "since": f.since, "until": f.until, "chain": f.chain} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var page wirePage[store.AuditEntry]
		if _, _, err := c.do(ctx, apiRequest{method: http.MethodGet, path: "/v1/audit", query: q}, &page); err != nil {
			return err
		}
		for _, e := range page.Items {
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// checkpointAnswer is GET /v1/audit/checkpoint.
type checkpointAnswer struct {
	Checkpoint *store.AuditCheckpoint `json:"checkpoint"`
	PublicKey  string                 `json:"public_key"`
}

// pinnedKey reads --public-key: a PEM file (public or private) or the
// base64 key; nil when not given.
func pinnedKey(pinned string) (ed25519.PublicKey, error) {
	if pinned == "" {
		return nil, nil
	}
	data := []byte(pinned)
	if b, err := os.ReadFile(pinned); err == nil {
		data = b
	}
	pub, err := audit.ParsePublicKey(data)
	if err != nil {
		return nil, usageError{fmt.Errorf("--public-key: %w", err)}
	}
	return pub, nil
}

// startOfChain returns the verifier for the stored chain: from its
// checkpoint, whose signature is checked with the pinned key (--public-key)
// or else the key the server shows, or from the first entry when the chain
// was never pruned. It also returns that key (nil when there is none),
// which checks the signed heads too.
func startOfChain(ctx context.Context, c *apiClient, pinned string) (*audit.Verifier, *store.AuditCheckpoint, ed25519.PublicKey, error) {
	pub, err := pinnedKey(pinned)
	if err != nil {
		return nil, nil, nil, err
	}
	var ans checkpointAnswer
	_, status, err := c.do(ctx, apiRequest{method: http.MethodGet, path: "/v1/audit/checkpoint"}, &ans)
	if status == http.StatusNotFound {
		return &audit.Verifier{}, nil, pub, nil // a server older than checkpoints prunes nothing
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if ans.PublicKey != "" {
		served, err := audit.ParsePublicKey([]byte(ans.PublicKey))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("the server's audit public key: %w", err)
		}
		if pub != nil && !pub.Equal(served) {
			return nil, nil, nil, fmt.Errorf("the server signs audit checkpoints with key %s, not with the pinned key %s", audit.KeyID(served), audit.KeyID(pub))
		}
		if pub == nil {
			pub = served
		}
	}
	if ans.Checkpoint == nil {
		return &audit.Verifier{}, nil, pub, nil
	}
	cp := *ans.Checkpoint
	if pub == nil {
		return nil, nil, nil, fmt.Errorf("the audit chain was pruned up to entry %d and the server shows no key to check its checkpoint: pass --public-key", cp.Seq)
	}
	if err := audit.VerifyCheckpoint(pub, cp); err != nil {
		return nil, nil, nil, err
	}
	return audit.FromCheckpoint(cp), &cp, pub, nil
}

// signedHeads reads every signed head (GET /v1/audit/heads); none from a
// server older than signed heads.
func signedHeads(ctx context.Context, c *apiClient) ([]store.AuditHead, error) {
	var out []store.AuditHead
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page wirePage[store.AuditHead]
		_, status, err := c.do(ctx, apiRequest{method: http.MethodGet, path: "/v1/audit/heads", query: q}, &page)
		if status == http.StatusNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var expectHead, publicKey string
	cmd := &cobra.Command{
		Use:   "verify [--expect-head SEQ:HASH]",
		Short: "Prove that no audit entry was altered, removed or reordered",
		Long: `Read the whole audit chain from the server and check every entry's hash and
its link to the entry before it. On a break, name the first bad entry and exit 1.
Truncation of the chain's end cannot be seen from the chain alone: keep the head
this command prints and pass it back with --expect-head next time.

When old entries were pruned (serve --audit-retention), the chain starts at a
checkpoint signed with the server's Ed25519 key: its signature is checked with
--public-key (a PEM file or the base64 key; pin it to trust nothing the server
says) or else with the key the server shows, and the first entry must link to it.

A server with an audit key also signs the chain's head now and then
(serve --audit-sign-interval, or audit sign). Every signed head is checked:
its signature, and that the entry at its seq still has its hash. A chain
rewritten at or before a signed head (even with every later hash
recomputed), a forged head, or a chain cut below a signed head fails, naming
the head's seq. Entries after the newest signed head are only hash-chained.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			want, err := parseExpectHead(expectHead)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, verr, err := verifyAuditChain(cmd.Context(), c, publicKey, want)
			if err != nil {
				return err
			}
			if err := printAuditVerification(g, asJSON, res, verr); err != nil {
				return err
			}
			switch {
			case verr == nil:
				return nil
			case asJSON:
				return silentError{code: exitFailure} // the JSON says why
			default:
				return verr
			}
		},
	}
	cmd.Flags().StringVar(&expectHead, "expect-head", "", "a head SEQ:HASH printed by an earlier verify; fail if it is gone or changed")
	cmd.Flags().StringVar(&publicKey, "public-key", "", "the key that signs checkpoints and heads: a PEM file (public or private) or base64; default: the key the server shows")
	g.alias(cmd, "public-key", "audit-public-key", "", "", "")
	return cmd
}

// expectedHead is --expect-head SEQ:HASH; seq -1 when not given.
type expectedHead struct {
	seq  int64
	hash string
}

func parseExpectHead(s string) (expectedHead, error) {
	want := expectedHead{seq: -1}
	if s == "" {
		return want, nil
	}
	if n, _ := fmt.Sscanf(s, "%d:%s", &want.seq, &want.hash); n != 2 {
		return want, usageError{fmt.Errorf("--expect-head wants SEQ:HASH as printed by audit verify, not %q", s)}
	}
	return want, nil
}

// auditVerification is what audit verify found of the chain.
type auditVerification struct {
	checkpoint       *store.AuditCheckpoint
	entries, headSeq int64
	headHash         string
	newest           *store.AuditHead
	checked, covered int
}

// verifyAuditChain reads the whole chain and checks it: verr is a break
// (or a missing expected head) to report with what was verified; err is a
// failure to verify at all.
func verifyAuditChain(ctx context.Context, c *apiClient, publicKey string, want expectedHead) (res auditVerification, verr, err error) {
	v, cp, pub, err := startOfChain(ctx, c, publicKey)
	if err != nil {
		return res, nil, err
	}
	heads, err := signedHeads(ctx, c)
	if err != nil {
		return res, nil, err
	}
	if len(heads) > 0 && pub == nil {
		return res, nil, fmt.Errorf("the store holds %d signed audit heads and the server shows no key to check them: pass --public-key", len(heads))
	}
	hc, err := audit.NewHeadCheck(pub, heads, cp)
	if err != nil {
		return res, nil, err
	}
	var sawExpected bool
	if cp != nil && want.seq >= 0 && want.seq <= cp.Seq {
		// Pruned since: the signed checkpoint stands for it.
		if want.seq == cp.Seq && cp.Hash != want.hash {
			return res, nil, &audit.Break{Seq: cp.Seq, Reason: "the checkpoint's hash differs from the expected head (history rewritten)"}
		}
		sawExpected = true
	}
	// chain=whole: a client-scoped token is refused (it would see gaps
	// where other clients' entries are, not breaks).
	verr = eachAudit(ctx, c, auditFilter{chain: "whole"}, func(e store.AuditEntry) error {
		if err := v.Add(e); err != nil {
			return err
		}
		if err := hc.Add(e); err != nil {
			return err
		}
		if e.Seq == want.seq {
			if e.Hash != want.hash {
				return &audit.Break{Seq: e.Seq, Reason: "hash differs from the expected head (history rewritten)"}
			}
			sawExpected = true
		}
		return nil
	})
	if verr == nil && want.seq >= 0 && !sawExpected {
		verr = fmt.Errorf("audit chain ends before the expected head %d (entries removed from the end)", want.seq)
	}
	res.checkpoint = cp
	res.headSeq, res.headHash, res.entries = v.Head()
	if verr == nil {
		verr = hc.Finish(res.headSeq)
	}
	res.newest, res.checked, res.covered = hc.Newest()
	return res, verr, nil
}

// printAuditVerification prints what audit verify found: JSON, or the
// ok lines (a break is the command's error).
func printAuditVerification(g *globals, asJSON bool, res auditVerification, verr error) error {
	cp, n := res.checkpoint, int(res.entries)
	if asJSON {
		out := map[string]any{"ok": verr == nil, "entries": res.entries, "head_seq": res.headSeq, "head_hash": res.headHash,
			"signed_heads_checked": res.checked, "signed_heads_covered_by_checkpoint": res.covered}
		if cp != nil {
			out["checkpoint"] = cp
		}
		if res.newest != nil {
			out["newest_signed_head"] = res.newest
		}
		if verr != nil {
			out["error"] = verr.Error()
		}
		return writeJSON(g.stdout, out)
	}
	if verr != nil {
		return nil
	}
	if cp != nil {
		fmt.Fprintf(g.stdout, "ok: %s verified after the checkpoint at entry %d (%s pruned, signed by key %s); head %d:%s\n",
			plural(n, "entry", "entries"), cp.Seq, plural(int(cp.Count), "entry", "entries"), cp.KeyID, res.headSeq, res.headHash)
	} else {
		fmt.Fprintf(g.stdout, "ok: %s verified; head %d:%s\n", plural(n, "entry", "entries"), res.headSeq, res.headHash)
	}
	var err error
	switch {
	case res.newest != nil:
		_, err = fmt.Fprintf(g.stdout, "signed heads: %d match the chain; the newest, entry %d signed at %s by key %s, proves the chain up to it (entries after it are only hash-chained)\n",
			res.checked, res.newest.Seq, res.newest.SignedAt.UTC().Format(time.RFC3339), res.newest.KeyID)
	case res.covered > 0:
		_, err = fmt.Fprintf(g.stdout, "signed heads: %d, all covered by the checkpoint\n", res.covered)
	default:
		_, err = fmt.Fprintln(g.stdout, "signed heads: none (serve --audit-key-file signs them); the chain alone cannot show a rewrite that recomputes every hash")
	}
	return err
}

func newAuditExportCmd(g *globals) *cobra.Command {
	var out string
	var filter auditFilter
	ta := targetArgs{kind: clientTarget, optional: true}
	cmd := &cobra.Command{
		Use:   "export [CLIENT] [-o jsonl|csv] [--action A] [--since T] [--until T] [--output-file FILE]",
		Short: "Export audit entries (of CLIENT) as JSON Lines or CSV for compliance reporting",
		Args:  ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			filter.clientID = t.client
			format := g.output
			switch format {
			case "table", "json", "": // the global default, and JSON as JSON Lines
				format = "jsonl"
			case "jsonl", "csv":
			default:
				return usageError{fmt.Errorf("audit export writes -o jsonl or -o csv, not %q", g.output)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			w := g.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			write, flush := auditWriter(w, format)
			if err := eachAudit(cmd.Context(), c, filter, write); err != nil {
				return err
			}
			return flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&filter.action, "action", "", "only entries of this action")
	f.StringVar(&filter.since, "since", "", "only entries at or after this time (RFC 3339)")
	f.StringVar(&filter.until, "until", "", "only entries before this time (RFC 3339)")
	outputFileFlag(g, cmd, "audit export", &out, "-")
	g.aliasVar(cmd, stringVar{&g.output}, nil, "", "format", "", "audit export --format F", "audit export -o F")
	ta.clientFlag(g, cmd, "audit export")
	return cmd
}

// auditWriter returns a function writing one entry in the format and a
// flush for the end.
func auditWriter(w io.Writer, format string) (func(store.AuditEntry) error, func() error) {
	if format == "jsonl" {
		enc := json.NewEncoder(w)
		return func(e store.AuditEntry) error { return enc.Encode(e) }, func() error { return nil }
	}
	cw := csv.NewWriter(w)
	header := true
	return func(e store.AuditEntry) error {
			if header {
				header = false
				if err := cw.Write([]string{"seq", "timestamp", "action", "client_id", "stack_id", "triggered_by", "success",
					"changes_made", "approval_required", "approver", "reconciliation_id", "drift_id", "prev_hash", "hash"}); err != nil {
					return err
				}
			}
			return cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.Timestamp.UTC().Format(time.RFC3339Nano), e.Action,
				e.ClientID, e.StackID, e.TriggeredBy, strconv.FormatBool(e.Success), string(e.ChangesMade),
				strconv.FormatBool(e.ApprovalRequired), e.Approver, e.ReconciliationID, e.DriftID, e.PrevHash, e.Hash})
		}, func() error {
			cw.Flush()
			return cw.Error()
		}
}

func newAuditPruneCmd(g *globals) *cobra.Command {
	var storeURL, keyFile string
	var olderThan time.Duration
	var batch int
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION --audit-key-file FILE [--store URL]",
		Short: "Delete old audit entries behind a signed checkpoint, on the store directly",
		Long: `Delete the audit entries older than --older-than, oldest first, in batches,
after writing a checkpoint (the last deleted entry's seq and hash, the count,
the time) signed with the Ed25519 key in --audit-key-file; "audit verify" then
proves the rest of the chain from the checkpoint. The newest entry is always
kept. Nothing is deleted when the entries to delete do not verify from the
current checkpoint: pruning never hides tampering. "serve --audit-retention"
does this every minute; this command is for installations that run passes
with "reconcile --once" or want to prune by hand.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if olderThan <= 0 {
				return usageError{fmt.Errorf("audit prune needs --older-than, a duration such as 2160h (90 days)")}
			}
			if keyFile == "" {
				return usageError{fmt.Errorf("audit prune needs --audit-key-file, the key that signs the checkpoint (see audit keygen)")}
			}
			key, err := audit.LoadKey(keyFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openExistingStore(ctx, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			p := &audit.Pruner{Store: st, Key: key}
			before := time.Now().Add(-olderThan)
			total := 0
			for {
				n, err := p.Prune(ctx, before, batch)
				if err != nil {
					return err
				}
				total += n
				if n == 0 || n < batch {
					break
				}
			}
			res := map[string]any{"pruned": total, "before": before.UTC().Format(time.RFC3339)}
			cp, err := st.AuditCheckpoint(ctx)
			hasCP := err == nil
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if hasCP {
				res["checkpoint"] = cp
			}
			if asJSON {
				return writeJSON(g.stdout, res)
			}
			if !hasCP {
				_, err = fmt.Fprintf(g.stdout, "pruned %s; the chain was never pruned\n", plural(total, "entry", "entries"))
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "pruned %s; the chain starts after the checkpoint at entry %d (%s pruned in all, key %s)\n",
				plural(total, "entry", "entries"), cp.Seq, plural(int(cp.Count), "entry", "entries"), cp.KeyID)
			return err
		},
	}
	f := cmd.Flags()
	storeFlag(f, &storeURL)
	f.StringVar(&keyFile, "audit-key-file", "", "Ed25519 private key (PKCS #8 PEM) that signs the checkpoint")
	f.DurationVar(&olderThan, "older-than", 0, "delete entries older than this, such as 2160h")
	f.IntVar(&batch, "batch", 1000, "entries deleted per transaction")
	bindEnv(f)
	return cmd
}

func newAuditSignCmd(g *globals) *cobra.Command {
	var storeURL, keyFile string
	cmd := &cobra.Command{
		Use:   "sign --audit-key-file FILE [--store URL]",
		Short: "Sign the audit chain's head with the Ed25519 key, on the store directly",
		Long: `Sign the head of the audit chain (its last entry's seq and hash, the time,
the key id) with the Ed25519 key in --audit-key-file and store the signed head.
"audit verify" checks every signed head against the chain, so a later rewrite
of any entry at or before it is found, even one that recomputes every hash.
A head is signed only when it extends the last head this key signed (the
entries since link to it); otherwise nothing is signed and the break is
named. Signing a head that is signed already changes nothing.
"serve --audit-key-file" signs every --audit-sign-interval by itself.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if keyFile == "" {
				return usageError{fmt.Errorf("audit sign needs --audit-key-file, the key that signs the head (see audit keygen)")}
			}
			key, err := audit.LoadKey(keyFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			h, added, err := (&audit.HeadSigner{Store: st, Key: key}).Sign(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g.stdout, map[string]any{"signed": added, "head": h})
			}
			switch {
			case h.Seq == 0:
				_, err = fmt.Fprintln(g.stdout, "the audit chain is empty: nothing to sign")
			case added:
				_, err = fmt.Fprintf(g.stdout, "signed head %d:%s (key %s)\n", h.Seq, h.Hash, h.KeyID)
			default:
				_, err = fmt.Fprintf(g.stdout, "head %d:%s is signed already (key %s, %s)\n", h.Seq, h.Hash, h.KeyID, h.SignedAt.UTC().Format(time.RFC3339))
			}
			return err
		},
	}
	f := cmd.Flags()
	storeFlag(f, &storeURL)
	f.StringVar(&keyFile, "audit-key-file", "", "Ed25519 private key (PKCS #8 PEM) that signs the head")
	bindEnv(f)
	return cmd
}

func newAuditKeygenCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Write a new Ed25519 key for signing audit checkpoints to FILE (and its public half to FILE.pub)",
		Long: `Write a new Ed25519 private key to FILE (PKCS #8 PEM, mode 0600) and its public
key to FILE.pub. Give FILE to "serve --audit-key-file" (or BLACKWELL_AUDIT_KEY_FILE);
give FILE.pub to whoever runs "audit verify --public-key". An existing FILE is
never overwritten. "openssl genpkey -algorithm ed25519 -out FILE" makes an
equivalent key.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			k, err := audit.GenerateKey()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("write key: %w", err)
			}
			if _, err := f.Write(k.PrivatePEM()); err != nil {
				f.Close()
				return fmt.Errorf("write key: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write key: %w", err)
			}
			if err := os.WriteFile(path+".pub", audit.PublicPEM(k.Public()), 0o644); err != nil {
				return fmt.Errorf("write public key: %w", err)
			}
			_, err = fmt.Fprintf(g.stdout, "wrote %s (private: keep it secret) and %s.pub; key id %s\n", path, path, k.ID())
			return err
		},
	}
}
