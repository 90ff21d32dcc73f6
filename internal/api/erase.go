package api

import (
	"net/http"
	"strings"

	"github.com/blackwellio/blackwell/internal/erase"
)

// eraseRequest is the body of POST /v1/clients/{client_id}/erase: one of
// subject(s), shop or all, as `blackwell erase` takes them.
type eraseRequest struct {
	// Subject and Subjects are emails or ids (customer, order, content).
	Subject  string   `json:"subject"`
	Subjects []string `json:"subjects"`
	Shop     string   `json:"shop"`
	All      bool     `json:"all"`
	DryRun   bool     `json:"dry_run"`
}

// eraseAnswer is what an erasure found (dry_run) or erased.
type eraseAnswer struct {
	ClientID string `json:"client_id"`
	DryRun   bool   `json:"dry_run"`
	erase.Report
}

// erase answers POST /v1/clients/{client_id}/erase: the client's events,
// content-cache rows and pending notifications that name a subject, a
// shop's, or all of them, deleted (or, with dry_run, found) as `blackwell
// erase` does (docs/DATA.md). The audit log gets data_erased (or
// data_request_answered) naming the token, with counts and a SHA-256 of
// what was erased, never the data or the subject.
func (s *Server) erase(w http.ResponseWriter, r *http.Request) error {
	var body eraseRequest
	ok, err := s.decodeJSON(w, r, &body)
	if err != nil {
		return err
	}
	if !ok {
		return invalid("the body must name one of subject, shop or all")
	}
	names := body.Subjects
	if body.Subject != "" {
		names = append([]string{body.Subject}, names...)
	}
	req := erase.Request{ClientID: r.PathValue("client_id"), Subject: erase.SubjectOf(names),
		Shop: strings.ToLower(strings.TrimSpace(body.Shop)), Everything: body.All, By: actor(r), Reason: "api"}
	n := 0
	for _, set := range []bool{!req.Subject.Empty(), req.Shop != "", req.Everything} {
		if set {
			n++
		}
	}
	if n != 1 {
		return invalid("name exactly one of subject (or subjects), shop or all")
	}
	er := &erase.Eraser{Store: s.opts.Store, Now: s.now}
	run := er.Erase
	if body.DryRun {
		run = er.Find
	}
	rep, err := run(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, eraseAnswer{ClientID: req.ClientID, DryRun: body.DryRun, Report: rep})
}
