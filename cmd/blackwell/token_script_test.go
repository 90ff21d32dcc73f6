package main

import (
	"database/sql"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// Testscript commands of token.txtar and audit_prune.txtar (registered in
// TestScripts):
//
//	setenvfile NAME FILE          set NAME to FILE's content, trimmed
//	settokenid NAME TOKEN_NAME    set NAME to the id of the token named so
//	tampercheckpoint seq+1|seq-1  move the audit checkpoint behind the
//	                              store's back, as an attacker with the
//	                              database file would

func cmdSetenvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenvfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// scriptDB opens the script server's database file directly.
func scriptDB(ts *testscript.TestScript) *sql.DB {
	serverOf(ts)
	db, err := sql.Open("sqlite", filepath.Join(ts.Getenv("WORK"), "blackwell.db"))
	ts.Check(err)
	return db
}

func cmdSetTokenID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: settokenid NAME TOKEN_NAME")
	}
	db := scriptDB(ts)
	defer db.Close()
	var id string
	ts.Check(db.QueryRow(`SELECT id FROM tokens WHERE name = ? ORDER BY created_at DESC LIMIT 1`, args[1]).Scan(&id))
	ts.Setenv(args[0], id)
}

func cmdTamperCheckpoint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || (args[0] != "seq+1" && args[0] != "seq-1") {
		ts.Fatalf("usage: tampercheckpoint seq+1|seq-1")
	}
	db := scriptDB(ts)
	defer db.Close()
	d := args[0][3:]
	res, err := db.Exec(`UPDATE audit_checkpoint SET seq = seq ` + d + `, count = count ` + d)
	ts.Check(err)
	if n, _ := res.RowsAffected(); n != 1 {
		ts.Fatalf("tampercheckpoint: no checkpoint")
	}
}
