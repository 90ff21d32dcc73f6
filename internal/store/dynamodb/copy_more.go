package dynamodb

// The codecs of store copy for tokens, healing, forecasts, compliance,
// promotions, snapshots, subscribers and the outbox, data keys and work
// distribution (see copy.go).

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// decodeDoc decodes an item's doc into v.
func decodeDoc(it map[string]types.AttributeValue, what string, v any) error {
	if err := json.Unmarshal([]byte(getS(it, "doc")), v); err != nil {
		return fmt.Errorf("decode %s %s: %w", what, getS(it, "sk"), err)
	}
	return nil
}

// Tokens: the token and the item of its secret hash.

func tokenRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["TOKEN"] {
		t, err := decodeToken(it)
		if err != nil {
			return nil, err
		}
		out = append(out, rowv{"id": t.ID, "name": t.Name, "role": string(t.Role), "client_id": t.ClientID,
			"secret_hash": t.SecretHash, "created_at": store.Truncate(t.CreatedAt).UTC(), "created_by": t.CreatedBy,
			"last_used_at": timeOrNil(t.LastUsedAt), "revoked_at": timeOrNil(t.RevokedAt)})
	}
	return out, nil
}

func addToken(im *importer, r rowv) error {
	t := store.Token{ID: r.s("id"), Name: r.s("name"), Role: store.Role(r.s("role")), ClientID: r.s("client_id"),
		SecretHash: r.s("secret_hash"), CreatedAt: r.t("created_at"), CreatedBy: r.s("created_by"),
		LastUsedAt: r.tp("last_used_at"), RevokedAt: r.tp("revoked_at")}
	it, err := tokenItem(t)
	if err != nil {
		return err
	}
	if err := im.put(tData, it); err != nil {
		return err
	}
	hash := tokenHashKey(t.SecretHash)
	hash["id"] = str(t.ID)
	return im.derive(tData, hash)
}

// Heal attempts: the attempt, its id pointer and, while claimable, its
// queue item.

func healRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["HEAL"] {
		h, err := decodeHeal(it)
		if err != nil {
			return nil, err
		}
		h = storedHeal(h)
		out = append(out, rowv{"id": h.ID, "drift_id": h.DriftID, "client_id": h.ClientID, "stack_id": h.StackID,
			"code": string(h.Code), "component": h.Component, "provider": h.Provider, "action": h.Action,
			"attempt": int64(h.Attempt), "status": string(h.Status), "reconciliation_id": h.ReconciliationID,
			"approval_id": h.ApprovalID, "triggered_by": h.TriggeredBy, "drift_detail": attrText(it, "drift_detail"),
			"not_before": h.NotBefore.UTC(), "owner": h.Owner, "lease_until": timeOrNil(h.LeaseUntil), "claims": int64(h.Claims),
			"created_at": h.CreatedAt.UTC(), "started_at": timeOrNil(h.StartedAt), "completed_at": timeOrNil(h.CompletedAt),
			"verified_at": timeOrNil(h.VerifiedAt), "detail": h.Detail, "error": h.Error})
	}
	return out, nil
}

func addHeal(im *importer, r rowv) error {
	h := store.HealAttempt{ID: r.s("id"), DriftID: r.s("drift_id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"),
		Code: drift.Code(r.s("code")), Component: r.s("component"), Provider: r.s("provider"), Action: r.s("action"),
		Attempt: int(r.n("attempt")), Status: store.HealStatus(r.s("status")), ReconciliationID: r.s("reconciliation_id"),
		ApprovalID: r.s("approval_id"), TriggeredBy: r.s("triggered_by"), NotBefore: r.t("not_before"), Owner: r.s("owner"),
		LeaseUntil: r.tp("lease_until"), Claims: int(r.n("claims")), CreatedAt: r.t("created_at"), StartedAt: r.tp("started_at"),
		CompletedAt: r.tp("completed_at"), VerifiedAt: r.tp("verified_at"), Detail: r.s("detail"), Error: r.s("error")}
	it, err := healItem(h)
	if err != nil {
		return err
	}
	if d := r.sp("drift_detail"); d != nil {
		it["drift_detail"] = str(*d)
	}
	if err := im.put(tData, it); err != nil {
		return err
	}
	ptr := healIDKey(h.ID)
	ptr["hpk"], ptr["hsk"] = it["pk"], it["sk"]
	if err := im.derive(tData, ptr); err != nil {
		return err
	}
	if q := queueKey(h); q != nil {
		return im.derive(tData, q)
	}
	return nil
}

// Approvals, with the lock of each drift's open request.

func approvalRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["APPROVAL"] {
		a, err := decodeApproval(it)
		if err != nil {
			return nil, err
		}
		a = storedApproval(a)
		out = append(out, rowv{"id": a.ID, "client_id": a.ClientID, "stack_id": a.StackID, "drift_id": a.DriftID,
			"code": string(a.Code), "component": a.Component, "action": a.Action, "approval_class": a.Class,
			"diff": attrText(it, "diff"), "triggered_by": a.TriggeredBy, "reconciliation_id": a.ReconciliationID,
			"status": string(a.Status), "created_at": a.CreatedAt.UTC(), "expires_at": a.ExpiresAt.UTC(),
			"decided_at": timeOrNil(a.DecidedAt), "decided_by": a.DecidedBy, "reason": a.Reason, "heal_id": a.HealID})
	}
	return out, nil
}

func addApproval(im *importer, r rowv) error {
	a := store.Approval{ID: r.s("id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"), DriftID: r.s("drift_id"),
		Code: drift.Code(r.s("code")), Component: r.s("component"), Action: r.s("action"), Class: r.s("approval_class"),
		TriggeredBy: r.s("triggered_by"), ReconciliationID: r.s("reconciliation_id"), Status: store.ApprovalStatus(r.s("status")),
		CreatedAt: r.t("created_at"), ExpiresAt: r.t("expires_at"), DecidedAt: r.tp("decided_at"), DecidedBy: r.s("decided_by"),
		Reason: r.s("reason"), HealID: r.s("heal_id")}
	it, err := approvalItem(a)
	if err != nil {
		return err
	}
	if d := r.sp("diff"); d != nil {
		it["diff"] = str(*d)
	}
	if err := im.put(tData, it); err != nil {
		return err
	}
	if openApproval(a.Status) {
		lk := lockKey(a)
		lk["id"] = str(a.ID)
		return im.derive(tData, lk)
	}
	return nil
}

// Drift returns: "RETURN/client/stack", sorted by the time then the drift
// (then what makes the key unique: the pass, or the seq on import).

func returnRows(x *exportSet) ([]rowv, error) {
	items := x.kinds["RETURN"]
	seqs := seqOrder(items, byKeys("sk", "pk"))
	out := make([]rowv, 0, len(items))
	for i, it := range items {
		parts := strings.SplitN(strings.TrimPrefix(getS(it, "pk"), "RETURN/"), "/", 2)
		sk := getS(it, "sk")
		at, err := strconv.ParseInt(sk[:min(len(sk), 20)], 10, 64)
		if len(parts) != 2 || err != nil {
			return nil, fmt.Errorf("drift return %s %s: malformed key", getS(it, "pk"), sk)
		}
		out = append(out, rowv{"seq": seqs[i], "client_id": parts[0], "stack_id": parts[1], "drift_id": getS(it, "drift_id"),
			"returned_at": micros(at - timeOffset)})
	}
	return out, nil
}

func addReturn(im *importer, r rowv) error {
	seq := r.n("seq")
	return im.put(tData, map[string]types.AttributeValue{"pk": str("RETURN/" + r.s("client_id") + "/" + r.s("stack_id")),
		"sk":       str(padMicros(microsOf(r.t("returned_at"))) + " " + r.s("drift_id") + " #" + strconv.FormatInt(seq, 10)),
		"drift_id": str(r.s("drift_id")), "seq": num(seq)})
}

// Forecasts: the forecast, its id pointer, and while open its lock and its
// count per code.

func forecastRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["FCAST"] {
		f, err := decodeForecast(it)
		if err != nil {
			return nil, fmt.Errorf("decode forecast %s: %w", getS(it, "sk"), err)
		}
		raw, err := rawFields(getS(it, "doc"))
		if err != nil {
			return nil, err
		}
		f = store.StoredForecast(f)
		out = append(out, rowv{"id": f.ID, "client_id": f.ClientID, "stack_id": f.StackID, "code": string(f.Code),
			"component": f.Component, "eta": f.ETA.UTC(), "confidence": store.ForecastConfidence(f.Confidence),
			"class": string(f.Class), "evidence": rawOr(raw, "evidence", "null"), "raised_at": f.RaisedAt.UTC(),
			"cleared_at": timeOrNil(f.ClearedAt)})
	}
	return out, nil
}

func addForecast(im *importer, r rowv) error {
	f := forecast.Forecast{ID: r.s("id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"), Code: drift.Code(r.s("code")),
		Component: r.s("component"), ETA: r.t("eta"), Confidence: store.ForecastConfidenceOf(r.n("confidence")),
		Class: forecast.Class(r.s("class")), RaisedAt: r.t("raised_at"), ClearedAt: r.tp("cleared_at")}
	if _, err := store.ForecastEvidenceOf(r.s("evidence")); err != nil {
		return fmt.Errorf("%w: forecast %s: %w", store.ErrInvalid, f.ID, err)
	}
	doc, err := docWith(f, map[string]string{"evidence": r.s("evidence")})
	if err != nil {
		return fmt.Errorf("forecast %s: %w", f.ID, err)
	}
	it := map[string]types.AttributeValue{"pk": str("FCAST/" + f.ClientID), "sk": str(forecastSK(f)), "doc": str(doc),
		"open": boolAttr(f.ClearedAt == nil)}
	if err := im.put(tData, it); err != nil {
		return err
	}
	if err := im.derive(tData, map[string]types.AttributeValue{"pk": str("FCASTID/" + f.ID), "sk": str("-"),
		"fpk": it["pk"], "fsk": it["sk"]}); err != nil {
		return err
	}
	if f.ClearedAt == nil {
		lk := forecastOpenKey(f)
		lk["id"] = str(f.ID)
		if err := im.derive(tData, lk); err != nil {
			return err
		}
		if im.openForecasts == nil {
			im.openForecasts = map[drift.Code]int64{}
		}
		im.openForecasts[f.Code]++
		im.once("forecast counts", func(im *importer) error {
			for _, code := range slices.Sorted(mapKeysCode(im.openForecasts)) {
				if err := im.derive(tData, map[string]types.AttributeValue{"pk": str("FCASTCOUNT"), "sk": str(string(code)),
					"open": num(im.openForecasts[code])}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return nil
}

func mapKeysCode(m map[drift.Code]int64) func(func(drift.Code) bool) {
	return func(yield func(drift.Code) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// The organisation's policy and the compliance timeline (segments, the
// pointers of open ones, the seq counter).

func orgPolicyRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["ORGPOLICY"] {
		out = append(out, rowv{"one": true, "name": getS(it, "name"), "document": getS(it, "document"),
			"updated_at": micros(getN(it, "updated_at"))})
	}
	return out, nil
}

func addOrgPolicy(im *importer, r rowv) error {
	return im.put(tData, map[string]types.AttributeValue{"pk": orgPolicyKey["pk"], "sk": orgPolicyKey["sk"],
		"name": str(r.s("name")), "document": str(r.s("document")), "updated_at": num(microsOf(r.t("updated_at")))})
}

func complianceRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["COMPL"] {
		c := decodeCompliance(it)
		out = append(out, rowv{"seq": c.Seq, "client_id": c.ClientID, "stack_id": c.StackID, "rule": c.Rule, "mode": c.Mode,
			"status": c.Status, "message": attrTextOr(it, "message"), "started_at": c.StartedAt, "ended_at": timeOrNil(c.EndedAt)})
	}
	return out, nil
}

// attrTextOr is a text attribute, "" when absent.
func attrTextOr(it map[string]types.AttributeValue, k string) string { return getS(it, k) }

func addCompliance(im *importer, r rowv) error {
	c := store.ComplianceSegment{Seq: r.n("seq"), ClientID: r.s("client_id"), StackID: r.s("stack_id"), Rule: r.s("rule"),
		Mode: r.s("mode"), Status: r.s("status"), Message: r.s("message"), StartedAt: r.t("started_at"), EndedAt: r.tp("ended_at")}
	it, err := complianceItem(c)
	if err != nil {
		return err
	}
	if c.EndedAt != nil {
		it["ended_at"] = num(microsOf(*c.EndedAt))
	}
	if err := im.put(tData, it); err != nil {
		return err
	}
	if c.EndedAt == nil {
		if err := im.derive(tData, map[string]types.AttributeValue{"pk": str(complianceOpenPK(c.ClientID, c.StackID)), "sk": str(c.Rule),
			"seq": num(c.Seq), "mode": str(c.Mode), "status": str(c.Status)}); err != nil {
			return err
		}
	}
	im.complianceMax = max(im.complianceMax, c.Seq)
	im.once("compliance seq", func(im *importer) error {
		return im.derive(tData, map[string]types.AttributeValue{"pk": complSeqKey["pk"], "sk": complSeqKey["sk"], "seq": num(im.complianceMax)})
	})
	return nil
}

// Pipelines and promotions (the promotion's document as the source had
// it; the lock of its target stack while it is under way).

func pipelineRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["PIPELINE"] {
		out = append(out, rowv{"client_id": getS(it, "client_id"), "app": getS(it, "sk"), "document": getS(it, "document"),
			"updated_at": micros(getN(it, "updated_at"))})
	}
	return out, nil
}

func addPipeline(im *importer, r rowv) error {
	return im.put(tData, map[string]types.AttributeValue{"pk": str("PIPELINE/" + r.s("client_id")), "sk": str(r.s("app")),
		"client_id": str(r.s("client_id")), "document": str(r.s("document")), "updated_at": num(microsOf(r.t("updated_at")))})
}

func promotionRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["PROMOTION"] {
		var p store.Promotion
		if err := decodeDoc(it, "promotion", &p); err != nil {
			return nil, err
		}
		out = append(out, rowv{"id": p.ID, "client_id": p.ClientID, "app": p.App, "to_stack": p.ToStack,
			"status": string(p.Status), "unfinished": getBool(it, "unfinished"), "created_at": store.Truncate(p.CreatedAt).UTC(),
			"revision": getN(it, "revision"), "document": getS(it, "doc")})
	}
	return out, nil
}

func addPromotion(im *importer, r rowv) error {
	var p store.Promotion
	if err := json.Unmarshal([]byte(r.s("document")), &p); err != nil {
		return fmt.Errorf("%w: promotion %s: %w", store.ErrInvalid, r.s("id"), err)
	}
	if p.ID != r.s("id") || p.ClientID != r.s("client_id") || p.ToStack != r.s("to_stack") {
		return fmt.Errorf("%w: promotion %s: its document names another", store.ErrInvalid, r.s("id"))
	}
	it := promotionKey(p.ID)
	it["client_id"], it["app"], it["doc"] = str(r.s("client_id")), str(r.s("app")), str(r.s("document"))
	it["revision"], it["unfinished"] = num(r.n("revision")), boolAttr(r.b("unfinished"))
	if err := im.put(tData, it); err != nil {
		return err
	}
	if r.b("unfinished") {
		lk := promotionLockKey(p)
		lk["id"] = str(p.ID)
		return im.derive(tData, lk)
	}
	return nil
}

// Snapshots (components as the source had them) and rollback records.

func snapshotRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["SNAP"] {
		sn, err := decodeSnapshot(it)
		if err != nil {
			return nil, err
		}
		raw, err := rawFields(getS(it, "doc"))
		if err != nil {
			return nil, err
		}
		out = append(out, rowv{"id": sn.ID, "client_id": sn.ClientID, "stack_id": sn.StackID, "state_version": sn.Version,
			"desired_hash": sn.DesiredHash, "components": rawOr(raw, "components", "null"), "reconciliation_id": sn.ReconciliationID,
			"taken_at": store.Truncate(sn.TakenAt).UTC(), "confirmed_at": store.Truncate(sn.ConfirmedAt).UTC()})
	}
	return out, nil
}

func addSnapshot(im *importer, r rowv) error {
	sn := store.Snapshot{ID: r.s("id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"), Version: r.s("state_version"),
		DesiredHash: r.s("desired_hash"), ReconciliationID: r.s("reconciliation_id"), TakenAt: r.t("taken_at"),
		ConfirmedAt: r.t("confirmed_at")}
	if _, err := store.SnapshotComponentsOf(r.s("components")); err != nil {
		return fmt.Errorf("%w: snapshot %s: %w", store.ErrInvalid, sn.ID, err)
	}
	doc, err := docWith(sn, map[string]string{"components": r.s("components")})
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", sn.ID, err)
	}
	it := map[string]types.AttributeValue{"pk": str(snapshotPK(sn.ClientID, sn.StackID)),
		"sk": str(padMicros(microsOf(sn.TakenAt)) + " " + sn.ID), "id": str(sn.ID), "doc": str(doc)}
	if err := im.put(tData, it); err != nil {
		return err
	}
	return im.derive(tData, map[string]types.AttributeValue{"pk": str("SNAPID/" + sn.ID), "sk": str("-"), "spk": it["pk"], "ssk": it["sk"]})
}

func rollbackRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["ROLLBACK"] {
		rb, err := decodeRollback(it)
		if err != nil {
			return nil, err
		}
		out = append(out, rowv{"id": rb.ID, "client_id": rb.ClientID, "stack_id": rb.StackID, "snapshot_id": rb.SnapshotID,
			"restored_version": rb.RestoredVersion, "new_version": rb.NewVersion, "hold": rb.Hold, "triggered_by": rb.By,
			"status": rb.Status, "steps": getS(it, "steps"), "error": rb.Error, "started_at": store.Truncate(rb.StartedAt).UTC(),
			"updated_at": store.Truncate(rb.UpdatedAt).UTC()})
	}
	return out, nil
}

func addRollback(im *importer, r rowv) error {
	rb := store.RollbackRecord{ID: r.s("id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"), SnapshotID: r.s("snapshot_id"),
		RestoredVersion: r.s("restored_version"), NewVersion: r.s("new_version"), Hold: r.s("hold"), By: r.s("triggered_by"),
		Status: r.s("status"), Error: r.s("error"), StartedAt: r.t("started_at"), UpdatedAt: r.t("updated_at")}
	if _, err := store.RollbackStepsOf(r.s("steps")); err != nil {
		return fmt.Errorf("%w: rollback %s: %w", store.ErrInvalid, rb.ID, err)
	}
	it, err := rollbackItem(rb)
	if err != nil {
		return err
	}
	it["steps"] = str(r.s("steps"))
	return im.put(tData, it)
}

// Audit subscribers: the cursor item (with the channels its deliveries
// use), their states, the outbox and its id pointers, and the outbox's
// seq counter.

func cursorRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["SUB"] {
		out = append(out, rowv{"name": strings.TrimPrefix(getS(it, "pk"), "SUB/"), "seq": getN(it, "cursor"),
			"updated_at": micros(getN(it, "updated_at"))})
	}
	return out, nil
}

func addCursor(im *importer, r rowv) error {
	it := subKey(r.s("name"))
	it["cursor"], it["updated_at"] = num(r.n("seq")), num(microsOf(r.t("updated_at")))
	it["channels"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{}}
	if err := im.put(tData, it); err != nil {
		return err
	}
	if im.subscribers == nil {
		im.subscribers = map[string]map[string]types.AttributeValue{}
	}
	im.subscribers[r.s("name")] = it
	im.once("subscriber channels", finishChannels)
	return nil
}

// finishChannels records on each subscriber the channels of its
// deliveries.
func finishChannels(im *importer) error {
	for name, it := range im.subscribers {
		var names []types.AttributeValue
		for _, ch := range slices.Sorted(mapKeys(im.outboxChannels[name])) {
			names = append(names, str(ch))
		}
		if names == nil {
			names = []types.AttributeValue{}
		}
		it["channels"] = &types.AttributeValueMemberL{Value: names}
	}
	return nil
}

func subStateRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["SUBSTATE"] {
		out = append(out, rowv{"subscriber": strings.TrimPrefix(getS(it, "pk"), "SUBSTATE/"), "key": getS(it, "sk"),
			"doc": getS(it, "doc"), "updated_at": micros(getN(it, "updated_at"))})
	}
	return out, nil
}

func addSubState(im *importer, r rowv) error {
	return im.put(tData, map[string]types.AttributeValue{"pk": str("SUBSTATE/" + r.s("subscriber")), "sk": str(r.s("key")),
		"doc": str(r.s("doc")), "updated_at": num(microsOf(r.t("updated_at")))})
}

func outboxRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["OUTBOX"] {
		var d store.OutboxItem
		if err := decodeDoc(it, "delivery", &d); err != nil {
			return nil, err
		}
		payload := getS(it, "payload")
		if _, ok := it["payload"]; !ok {
			raw, err := rawFields(getS(it, "doc"))
			if err != nil {
				return nil, err
			}
			payload = rawOr(raw, "payload", "null")
		}
		out = append(out, rowv{"seq": d.Seq, "id": d.ID, "subscriber": d.Subscriber, "channel": d.Channel, "payload": payload,
			"created_at": store.Truncate(d.CreatedAt).UTC()})
	}
	return out, nil
}

func addOutbox(im *importer, r rowv) error {
	if !json.Valid([]byte(r.s("payload"))) {
		return fmt.Errorf("%w: delivery %s: payload is not JSON", store.ErrInvalid, r.s("id"))
	}
	d := store.OutboxItem{Seq: r.n("seq"), ID: r.s("id"), Subscriber: r.s("subscriber"), Channel: r.s("channel"),
		Payload: json.RawMessage(r.s("payload")), CreatedAt: r.t("created_at")}
	doc, err := json.Marshal(d)
	if err != nil {
		return err
	}
	key := map[string]types.AttributeValue{"pk": str(outboxPK(d.Subscriber, d.Channel)), "sk": str(fmt.Sprintf("%020d", d.Seq))}
	if err := im.put(tData, map[string]types.AttributeValue{"pk": key["pk"], "sk": key["sk"], "doc": str(string(doc)),
		"payload": str(r.s("payload"))}); err != nil {
		return err
	}
	ptr := outboxIDKey(d.ID)
	ptr["opk"], ptr["osk"] = key["pk"], key["sk"]
	if err := im.derive(tData, ptr); err != nil {
		return err
	}
	if im.outboxChannels == nil {
		im.outboxChannels = map[string]map[string]bool{}
	}
	if im.outboxChannels[d.Subscriber] == nil {
		im.outboxChannels[d.Subscriber] = map[string]bool{}
	}
	im.outboxChannels[d.Subscriber][d.Channel] = true
	im.outboxMax = max(im.outboxMax, d.Seq)
	im.once("outbox seq", func(im *importer) error {
		return im.derive(tData, map[string]types.AttributeValue{"pk": str("COUNTER"), "sk": str("outbox"), "value": num(im.outboxMax)})
	})
	return nil
}

// Data keys and channel sets (names as the source had them).

func dataKeyRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["DATAKEY"] {
		var k store.DataKey
		if err := decodeDoc(it, "data key", &k); err != nil {
			return nil, err
		}
		out = append(out, rowv{"id": k.ID, "kek_id": k.KEKID, "wrapped": k.Wrapped, "created_at": store.Truncate(k.CreatedAt).UTC()})
	}
	return out, nil
}

func addDataKey(im *importer, r rowv) error {
	doc, err := json.Marshal(store.DataKey{ID: r.s("id"), KEKID: r.s("kek_id"), Wrapped: r.s("wrapped"), CreatedAt: r.t("created_at")})
	if err != nil {
		return err
	}
	return im.put(tData, map[string]types.AttributeValue{"pk": str("DATAKEY"), "sk": str(r.s("id")), "doc": str(string(doc))})
}

func chanSetRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["CHANSET"] {
		var set store.ChannelSet
		if err := decodeDoc(it, "channel set", &set); err != nil {
			return nil, err
		}
		raw, err := rawFields(getS(it, "doc"))
		if err != nil {
			return nil, err
		}
		out = append(out, rowv{"subscriber": set.Subscriber, "hash": set.Hash, "names": rawOr(raw, "names", "null"),
			"set_by": set.SetBy, "set_at": store.Truncate(set.SetAt).UTC()})
	}
	return out, nil
}

func addChanSet(im *importer, r rowv) error {
	set := store.ChannelSet{Subscriber: r.s("subscriber"), Hash: r.s("hash"), SetBy: r.s("set_by"), SetAt: r.t("set_at")}
	if err := json.Unmarshal([]byte(r.s("names")), &set.Names); err != nil {
		return fmt.Errorf("%w: channel set %s: names: %w", store.ErrInvalid, set.Subscriber, err)
	}
	doc, err := docWith(set, map[string]string{"names": r.s("names")})
	if err != nil {
		return err
	}
	return im.put(tData, map[string]types.AttributeValue{"pk": str("CHANSET"), "sk": str(set.Subscriber), "doc": str(doc)})
}

// Replicas and shard leases (so that epochs keep increasing).

func replicaRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["REPLICA"] {
		out = append(out, rowv{"id": getS(it, "sk"), "heartbeat": micros(getN(it, "heartbeat")), "expires_at": micros(getN(it, "expires_at"))})
	}
	return out, nil
}

func addReplica(im *importer, r rowv) error {
	return im.put(tData, map[string]types.AttributeValue{"pk": str("REPLICA"), "sk": str(r.s("id")),
		"heartbeat": num(microsOf(r.t("heartbeat"))), "expires_at": num(microsOf(r.t("expires_at")))})
}

func leaseRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["LEASE"] {
		out = append(out, rowv{"shard": getN(it, "shard"), "owner": getS(it, "owner"), "epoch": getN(it, "epoch"),
			"expires_at": micros(getN(it, "expires_at"))})
	}
	return out, nil
}

func addLease(im *importer, r rowv) error {
	shard := r.n("shard")
	if shard < 0 || shard >= store.Shards {
		return fmt.Errorf("%w: shard %d: no such shard", store.ErrInvalid, shard)
	}
	it := leaseKey(int(shard))
	it["shard"], it["epoch"], it["expires_at"] = num(shard), num(r.n("epoch")), num(microsOf(r.t("expires_at")))
	if o := r.s("owner"); o != "" {
		it["owner"] = str(o)
	}
	return im.put(tData, it)
}
