package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// cmdRewriteAudit rewrites the script server's audit entry SEQ and
// recomputes every hash from it to the end, behind the store's back: what
// an attacker with the database does so that the chain alone still
// verifies.
func cmdRewriteAudit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rewriteaudit SEQ")
	}
	serverOf(ts)
	path := filepath.Join(ts.Getenv("WORK"), "blackwell.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	ts.Check(err)
	var es []store.AuditEntry
	cursor := ""
	for {
		page, next, err := st.ListAudit(ctx, store.AuditQuery{Cursor: cursor, Limit: 1000})
		ts.Check(err)
		es = append(es, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	ts.Check(st.Close())
	db, err := sql.Open("sqlite", path)
	ts.Check(err)
	defer db.Close()
	seq, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	prev, found := "", false
	for _, e := range es {
		if e.Seq < seq {
			prev = e.Hash
			continue
		}
		if e.Seq == seq {
			e.Action, found = "nothing_happened", true
		}
		e.PrevHash = prev
		e.Hash = store.ChainHash(e)
		prev = e.Hash
		_, err := db.Exec(`UPDATE audit SET action = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Action, e.PrevHash, e.Hash, e.Seq)
		ts.Check(err)
	}
	if !found {
		ts.Fatalf("rewriteaudit: no entry %d", seq)
	}
}

// cmdSQL runs one statement on the script server's database.
func cmdSQL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sql STATEMENT")
	}
	serverOf(ts)
	db, err := sql.Open("sqlite", filepath.Join(ts.Getenv("WORK"), "blackwell.db"))
	ts.Check(err)
	defer db.Close()
	res, err := db.Exec(args[0])
	ts.Check(err)
	if n, _ := res.RowsAffected(); n == 0 {
		ts.Fatalf("sql: no row changed")
	}
}
