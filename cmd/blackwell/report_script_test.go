package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/blackwellio/blackwell/internal/store"
)

// cmdSeedAudit appends an audit entry as the reconcile loop would:
// seedaudit ACTION CLIENT STACK DRIFT_ID OFFSET [CHANGES_JSON], at the
// script clock plus OFFSET (a duration, may be negative). In
// CHANGES_JSON, the word NOW+DURATION stands for that time (RFC 3339).
func cmdSeedAudit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 5 || len(args) > 6 {
		ts.Fatalf("usage: seedaudit ACTION CLIENT STACK DRIFT_ID OFFSET [CHANGES_JSON]")
	}
	s := serverOf(ts)
	offset, err := time.ParseDuration(args[4])
	ts.Check(err)
	e := store.AuditEntry{Timestamp: scriptNow().Add(offset), Action: args[0], ClientID: args[1], StackID: args[2],
		DriftID: args[3], TriggeredBy: "reconciler:schedule", Success: true}
	if len(args) == 6 {
		var changes map[string]any
		ts.Check(json.Unmarshal([]byte(args[5]), &changes))
		for k, v := range changes {
			if text, ok := v.(string); ok && len(text) > 4 && text[:4] == "NOW+" {
				d, err := time.ParseDuration(text[4:])
				ts.Check(err)
				changes[k] = scriptNow().Add(d)
			}
		}
		e.ChangesMade, err = json.Marshal(changes)
		ts.Check(err)
	}
	ts.Check(s.store.AppendAudit(context.Background(), []store.AuditEntry{e}))
}

// cmdReportHead reads a report written as JSON and sets HEAD to its
// source's SEQ:HASH, for audit verify --expect-head: reporthead FILE.
func cmdReportHead(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: reporthead FILE")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var r struct {
		Source struct {
			HeadSeq  int64  `json:"head_seq"`
			HeadHash string `json:"head_hash"`
		} `json:"source"`
	}
	ts.Check(json.Unmarshal(data, &r))
	if r.Source.HeadSeq == 0 || r.Source.HeadHash == "" {
		ts.Fatalf("reporthead: %s names no chain head", args[0])
	}
	ts.Setenv("HEAD", fmt.Sprintf("%d:%s", r.Source.HeadSeq, r.Source.HeadHash))
}
