package dynamodb

// The codecs of store copy for stacks, desired versions, policies, events,
// content, drifts, results and the audit chain (see copy.go).

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// codecs maps every copied table onto the driver's items.
var codecs map[string]codec

func init() {
	codecs = map[string]codec{
		"states":              {kinds: []string{"state"}, rows: stateRows, add: addState},
		"desired_versions":    {kinds: []string{"VER"}, rows: versionRows, add: addVersion},
		"policies":            {kinds: []string{"POLICY"}, rows: policyRows, add: addPolicy},
		"events":              {kinds: []string{"event"}, rows: eventRows, add: addEventRow},
		"content":             {kinds: []string{"CONTENT"}, rows: contentRows, add: addContentRow},
		"drifts":              {kinds: []string{"DRIFT"}, rows: driftRows, add: addDrift},
		"reconciliations":     {kinds: []string{"RESULT"}, rows: resultRows, add: addResult},
		"pass_hours":          {rows: passHourRows, add: func(*importer, rowv) error { return nil }},
		"audit":               {kinds: []string{"AUDIT"}, rows: auditRows, add: addAuditRow},
		"audit_checkpoint":    {kinds: []string{"AUDIT"}, rows: checkpointRows, add: addCheckpoint},
		"audit_heads":         {kinds: []string{"AUDITHEAD"}, rows: auditHeadRows, add: addAuditHead},
		"tokens":              {kinds: []string{"TOKEN"}, rows: tokenRows, add: addToken},
		"heals":               {kinds: []string{"HEAL"}, rows: healRows, add: addHeal},
		"approvals":           {kinds: []string{"APPROVAL"}, rows: approvalRows, add: addApproval},
		"drift_returns":       {kinds: []string{"RETURN"}, rows: returnRows, add: addReturn},
		"forecasts":           {kinds: []string{"FCAST"}, rows: forecastRows, add: addForecast},
		"organization_policy": {kinds: []string{"ORGPOLICY"}, rows: orgPolicyRows, add: addOrgPolicy},
		"compliance":          {kinds: []string{"COMPL"}, rows: complianceRows, add: addCompliance},
		"pipelines":           {kinds: []string{"PIPELINE"}, rows: pipelineRows, add: addPipeline},
		"promotions":          {kinds: []string{"PROMOTION"}, rows: promotionRows, add: addPromotion},
		"snapshots":           {kinds: []string{"SNAP"}, rows: snapshotRows, add: addSnapshot},
		"rollbacks":           {kinds: []string{"ROLLBACK"}, rows: rollbackRows, add: addRollback},
		"subscriber_cursors":  {kinds: []string{"SUB"}, rows: cursorRows, add: addCursor},
		"subscriber_states":   {kinds: []string{"SUBSTATE"}, rows: subStateRows, add: addSubState},
		"outbox":              {kinds: []string{"OUTBOX"}, rows: outboxRows, add: addOutbox},
		"data_keys":           {kinds: []string{"DATAKEY"}, rows: dataKeyRows, add: addDataKey},
		"notify_channel_sets": {kinds: []string{"CHANSET"}, rows: chanSetRows, add: addChanSet},
		"replicas":            {kinds: []string{"REPLICA"}, rows: replicaRows, add: addReplica},
		"shard_leases":        {kinds: []string{"LEASE"}, rows: leaseRows, add: addLease},
	}
}

// Helpers of the codecs.

func boolAttr(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

// timeOrNil is a nullable time column's value.
func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return store.Truncate(*t).UTC()
}

// attrTime is a time attribute (unix microseconds) as a nullable column.
func attrTime(it map[string]types.AttributeValue, k string) any {
	if _, ok := it[k]; !ok {
		return nil
	}
	return micros(getN(it, k))
}

// attrText is a text attribute as a nullable column.
func attrText(it map[string]types.AttributeValue, k string) any {
	if _, ok := it[k]; !ok {
		return nil
	}
	return getS(it, k)
}

// rawFields are the top-level members of a JSON object as stored.
func rawFields(doc string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	return m, nil
}

// rawOr is member k of m as text, def when it is absent.
func rawOr(m map[string]json.RawMessage, k, def string) string {
	if v, ok := m[k]; ok {
		return string(v)
	}
	return def
}

// docWith is v encoded as a JSON object with members replaced by the
// raw texts given ("" removes the member), so a column's text is stored
// as the source had it.
func docWith(v any, raws map[string]string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	m, err := rawFields(string(b))
	if err != nil {
		return "", err
	}
	for k, raw := range raws {
		if raw == "" {
			delete(m, k)
			continue
		}
		if !json.Valid([]byte(raw)) {
			return "", fmt.Errorf("%w: column %s is not JSON", store.ErrInvalid, k)
		}
		m[k] = json.RawMessage(raw)
	}
	b, err = json.Marshal(m)
	return string(b), err
}

// seqOrder numbers the items of one kind: an item's kept seq, or after
// the highest kept one in the order of cmp for those without.
func seqOrder(items []map[string]types.AttributeValue, order func(a, b map[string]types.AttributeValue) int) []int64 {
	var top int64
	var fresh []int
	for i, it := range items {
		if _, ok := it["seq"]; ok {
			top = max(top, getN(it, "seq"))
		} else {
			fresh = append(fresh, i)
		}
	}
	sortIdx(fresh, func(a, b int) int { return order(items[a], items[b]) })
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = getN(it, "seq")
	}
	for j, i := range fresh {
		out[i] = top + int64(j) + 1
	}
	return out
}

func sortIdx(idx []int, cmpf func(a, b int) int) { slices.SortStableFunc(idx, cmpf) }

// byKeys orders items by the attributes named (numbers as numbers).
func byKeys(names ...string) func(a, b map[string]types.AttributeValue) int {
	return func(a, b map[string]types.AttributeValue) int {
		for _, n := range names {
			var d int
			if _, ok := a[n].(*types.AttributeValueMemberN); ok {
				d = cmp.Compare(getN(a, n), getN(b, n))
			} else {
				d = strings.Compare(getS(a, n), getS(b, n))
			}
			if d != 0 {
				return d
			}
		}
		return 0
	}
}

// States.

// stateRaw are the state columns kept as JSON text, by their member of
// the item's document.
var stateRaw = []string{"previous_versions", "resources", "drift_details", "reconciliation_policy", "observability", "last_known"}

func stateRows(x *exportSet) ([]rowv, error) {
	out := make([]rowv, 0, len(x.states))
	for _, it := range x.states {
		rec, err := decodeState(it)
		if err != nil {
			return nil, err
		}
		raw, err := rawFields(getS(it, "doc"))
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", rec.Key(), err)
		}
		r := rowv{"client_id": rec.ClientID, "stack_id": rec.StackID, "environment": rec.Environment,
			"desired_hash": rec.DesiredHash, "applied_hash": rec.AppliedHash, "state_version": rec.StateVersion,
			"desired": getS(it, "desired"), "last_applied": timeOrNil(rec.LastApplied), "last_verified": timeOrNil(rec.LastVerified),
			"created_at": store.Truncate(rec.CreatedAt).UTC(), "updated_at": store.Truncate(rec.UpdatedAt).UTC(),
			"status": string(rec.Status), "last_error": rec.LastError, "revision": rec.Revision,
			"shard": getN(it, "shard"), "hold": rawOr(raw, "hold", "")}
		for _, k := range stateRaw {
			r[k] = rawOr(raw, k, "null")
		}
		out = append(out, r)
	}
	return out, nil
}

func addState(im *importer, r rowv) error {
	rec := store.StateRecord{ClientID: r.s("client_id"), StackID: r.s("stack_id"), Environment: r.s("environment"),
		DesiredHash: r.s("desired_hash"), AppliedHash: r.s("applied_hash"), StateVersion: r.s("state_version"),
		LastApplied: r.tp("last_applied"), LastVerified: r.tp("last_verified"), CreatedAt: r.t("created_at"),
		UpdatedAt: r.t("updated_at"), Status: store.Status(r.s("status")), LastError: r.s("last_error"), Revision: r.n("revision")}
	raws := map[string]string{"hold": r.s("hold")}
	for _, k := range stateRaw {
		raws[k] = r.s(k)
	}
	doc, err := docWith(rec, raws)
	if err != nil {
		return fmt.Errorf("state %s: %w", rec.Key(), err)
	}
	it := stateKey(rec.ClientID, rec.StackID)
	it["shard"] = num(r.n("shard"))
	it["stack_key"] = str(stackKey(rec.ClientID, rec.StackID))
	it["revision"] = num(rec.Revision)
	it["doc"] = str(doc)
	if d := r.s("desired"); d != "" {
		it["desired"] = str(d)
	}
	if _, err := decodeState(it); err != nil {
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return im.put(tState, it)
}

// Desired versions.

func versionRows(x *exportSet) ([]rowv, error) {
	items := x.kinds["VER"]
	seqs := seqOrder(items, byKeys("created_at", "pk", "sk"))
	out := make([]rowv, 0, len(items))
	for i, it := range items {
		v := decodeVersion(it)
		out = append(out, rowv{"seq": seqs[i], "client_id": v.ClientID, "stack_id": v.StackID, "version": v.Version,
			"hash": v.Hash, "document": string(v.Document), "created_at": v.CreatedAt, "created_by": v.CreatedBy})
	}
	return out, nil
}

func addVersion(im *importer, r rowv) error {
	it, err := versionItem(store.DesiredVersion{ClientID: r.s("client_id"), StackID: r.s("stack_id"), Version: r.s("version"),
		Hash: r.s("hash"), Document: json.RawMessage(r.s("document")), CreatedAt: r.t("created_at"), CreatedBy: r.s("created_by")})
	if err != nil {
		return err
	}
	it["seq"] = num(r.n("seq"))
	return im.put(tData, it)
}

// Policies.

func policyRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["POLICY"] {
		p := decodePolicy(it)
		out = append(out, rowv{"client_id": p.ClientID, "stack_id": p.StackID, "document": string(p.Document), "updated_at": p.UpdatedAt})
	}
	return out, nil
}

func addPolicy(im *importer, r rowv) error {
	it := policyKey(r.s("client_id"), r.s("stack_id"))
	it["client_id"], it["document"], it["updated_at"] = str(r.s("client_id")), str(r.s("document")), num(microsOf(r.t("updated_at")))
	if st := r.s("stack_id"); st != "" {
		it["stack_id"] = str(st)
	}
	return im.put(tData, it)
}

// Events: the event, its unchecked item while no pass saw it, its count in
// the activity roll-up, and the counter of seqs.

func eventRows(x *exportSet) ([]rowv, error) {
	out := make([]rowv, 0, len(x.events))
	for _, it := range x.events {
		e := decodeEvent(it)
		out = append(out, rowv{"seq": getN(it, "seq"), "event_id": e.EventID, "client_id": e.ClientID, "stack_id": e.StackID,
			"provider_name": e.ProviderName, "event_type": e.EventType, "content_id": e.ContentID, "content_type": e.ContentType,
			"timestamp": e.Timestamp, "environment": e.Environment, "drift_checked": e.DriftChecked,
			"payload": attrText(it, "payload"), "received_at": e.ReceivedAt, "ttl_timestamp": e.TTLTimestamp})
	}
	return out, nil
}

func addEventRow(im *importer, r rowv) error {
	e := store.Event{EventID: r.s("event_id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"),
		ProviderName: r.s("provider_name"), EventType: r.s("event_type"), ContentID: r.s("content_id"),
		ContentType: r.s("content_type"), Timestamp: r.t("timestamp"), Environment: r.s("environment"),
		DriftChecked: r.b("drift_checked"), ReceivedAt: r.t("received_at"), TTLTimestamp: r.n("ttl_timestamp")}
	seq := r.n("seq")
	it, err := eventItem(e, seq)
	if err != nil {
		return err
	}
	if p := r.sp("payload"); p != nil {
		it["payload"] = str(*p)
	}
	if err := im.put(tEvents, it); err != nil {
		return err
	}
	if !e.DriftChecked {
		if err := im.derive(tData, map[string]types.AttributeValue{"pk": str(uncheckedPK(e.ClientID, e.StackID)),
			"sk": str(fmt.Sprintf("%020d", seq)), "seq": num(seq), "event_id": str(e.EventID),
			"received_at": num(microsOf(e.ReceivedAt))}); err != nil {
			return err
		}
	}
	im.eventMax = max(im.eventMax, seq)
	im.activity = append(im.activity, eventActivity{client: e.ClientID, stack: e.StackID, provider: e.ProviderName,
		typ: e.EventType, ctype: e.ContentType, ts: microsOf(e.Timestamp)})
	im.once("events", finishEvents)
	return nil
}

// finishEvents writes the activity roll-up and the seq counter.
func finishEvents(im *importer) error {
	events := make([]store.Event, len(im.activity))
	for i, a := range im.activity {
		events[i] = store.Event{ClientID: a.client, StackID: a.stack, ProviderName: a.provider, EventType: a.typ,
			ContentType: a.ctype, Timestamp: micros(a.ts)}
	}
	for _, b := range activityBuckets(events, 1) {
		it := map[string]types.AttributeValue{"pk": b.key["pk"], "sk": b.key["sk"], "count": num(b.count), "last": num(b.last),
			"provider_name": str(b.provider), "event_type": str(b.typ), "content_type": str(b.ctype)}
		if err := im.derive(tData, it); err != nil {
			return err
		}
	}
	return im.derive(tData, map[string]types.AttributeValue{"pk": str("COUNTER"), "sk": str("events"), "value": num(im.eventMax)})
}

// Content.

func contentRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["CONTENT"] {
		c := decodeContent(it)
		out = append(out, rowv{"client_id": c.ClientID, "provider_name": c.ProviderName, "source": c.Source,
			"content_id": c.ContentID, "content_type": c.ContentType, "updated_at": c.UpdatedAt, "version": c.Version,
			"deleted": c.Deleted, "event_id": c.EventID, "received_at": c.ReceivedAt})
	}
	return out, nil
}

func addContentRow(im *importer, r rowv) error {
	it, err := contentItem(store.ContentItem{ClientID: r.s("client_id"), ProviderName: r.s("provider_name"), Source: r.s("source"),
		ContentID: r.s("content_id"), ContentType: r.s("content_type"), UpdatedAt: r.t("updated_at"), Version: r.n("version"),
		Deleted: r.b("deleted"), EventID: r.s("event_id"), ReceivedAt: r.t("received_at")})
	if err != nil {
		return err
	}
	return im.put(tData, it)
}

// Drifts: the document keeps expected and observed as the source had
// them; acknowledged_at, which drift.Drift does not hold, is an attribute
// of the item.

func driftRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["DRIFT"] {
		d, err := decodeDrift(it)
		if err != nil {
			return nil, err
		}
		raw, err := rawFields(getS(it, "doc"))
		if err != nil {
			return nil, fmt.Errorf("drift %s: %w", d.ID, err)
		}
		out = append(out, rowv{"client_id": d.ClientID, "stack_id": d.StackID, "id": d.ID, "code": string(d.Code),
			"type": string(d.Type), "component": d.Component, "expected": rawOr(raw, "expected", "null"),
			"observed": rawOr(raw, "observed", "null"), "severity": string(d.Severity), "cause": d.Cause,
			"detected_at": d.DetectedAt.UTC(), "first_seen": d.FirstSeen.UTC(), "last_seen": d.LastSeen.UTC(),
			"observations": int64(d.Observations), "confirmed": d.Confirmed, "acknowledged": d.Acknowledged,
			"acknowledged_by": d.AcknowledgedBy, "acknowledged_at": attrTime(it, "acknowledged_at"),
			"resolved_at": timeOrNil(d.ResolvedAt), "heal_status": d.HealStatus})
	}
	return out, nil
}

func addDrift(im *importer, r rowv) error {
	expected, observed := r.s("expected"), r.s("observed")
	for _, v := range []string{expected, observed} {
		if !json.Valid([]byte(v)) {
			return fmt.Errorf("%w: drift %s: expected or observed is not JSON", store.ErrInvalid, r.s("id"))
		}
	}
	d := drift.Drift{ID: r.s("id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"), Code: drift.Code(r.s("code")),
		Type: drift.Type(r.s("type")), Component: r.s("component"), Expected: json.RawMessage(expected),
		Observed: json.RawMessage(observed), Severity: drift.Severity(r.s("severity")), Cause: r.s("cause"),
		DetectedAt: r.t("detected_at"), FirstSeen: r.t("first_seen"), LastSeen: r.t("last_seen"),
		Observations: int(r.n("observations")), Confirmed: r.b("confirmed"), Acknowledged: r.b("acknowledged"),
		AcknowledgedBy: r.s("acknowledged_by"), ResolvedAt: r.tp("resolved_at"), HealStatus: r.s("heal_status")}
	it, err := driftItem(d)
	if err != nil {
		return err
	}
	if at := r.tp("acknowledged_at"); at != nil {
		it["acknowledged_at"] = num(microsOf(*at))
	}
	return im.put(tData, it)
}

// Results, with their id items; errors kept as the source's text.

func resultRows(x *exportSet) ([]rowv, error) {
	items := x.kinds["RESULT"]
	seqs := seqOrder(items, byKeys("sk", "pk"))
	out := make([]rowv, 0, len(items))
	for i, it := range items {
		res, err := decodeResult(it)
		if err != nil {
			return nil, err
		}
		errs := getS(it, "errors")
		if _, ok := it["errors"]; !ok {
			b, err := json.Marshal(res.Errors)
			if err != nil {
				return nil, err
			}
			errs = string(b)
		}
		out = append(out, rowv{"seq": seqs[i], "reconciliation_id": res.ReconciliationID, "client_id": res.ClientID,
			"stack_id": res.StackID, "pass_trigger": res.Trigger, "started_at": res.StartedAt.UTC(), "completed_at": res.CompletedAt.UTC(),
			"status": string(res.Status), "drift_detected": res.DriftDetected, "drift_count": int64(res.DriftCount),
			"auto_heal_attempted": res.AutoHealAttempted, "auto_heal_success_count": int64(res.AutoHealSuccessCount),
			"errors": errs, "state_version": res.StateVersion})
	}
	return out, nil
}

func addResult(im *importer, r rowv) error {
	res := store.ReconciliationResult{ReconciliationID: r.s("reconciliation_id"), ClientID: r.s("client_id"), StackID: r.s("stack_id"),
		Trigger: r.s("pass_trigger"), StartedAt: r.t("started_at"), CompletedAt: r.t("completed_at"),
		Status: store.ResultStatus(r.s("status")), DriftDetected: r.b("drift_detected"), DriftCount: int(r.n("drift_count")),
		AutoHealAttempted: r.b("auto_heal_attempted"), AutoHealSuccessCount: int(r.n("auto_heal_success_count")),
		StateVersion: r.s("state_version")}
	if err := json.Unmarshal([]byte(r.s("errors")), &res.Errors); err != nil {
		return fmt.Errorf("%w: result %s: errors: %w", store.ErrInvalid, res.ReconciliationID, err)
	}
	it, err := resultItem(res)
	if err != nil {
		return err
	}
	it["seq"], it["errors"] = num(r.n("seq")), str(r.s("errors"))
	if err := im.put(tData, it); err != nil {
		return err
	}
	return im.derive(tData, ridItem(res))
}

// passHourRows is the hourly roll-up of the results, as the SQL drivers
// keep it (their migration 0013): by client, the UTC hour the pass started
// in and its duration class.
func passHourRows(x *exportSet) ([]rowv, error) {
	type key struct {
		client string
		hour   int64
		class  int64
	}
	sums := map[key]rowv{}
	var order []key
	for _, it := range x.kinds["RESULT"] {
		res, err := decodeResult(it)
		if err != nil {
			return nil, err
		}
		start := microsOf(res.StartedAt)
		k := key{res.ClientID, start - start%3600000000,
			int64(store.DurationBucket(time.Duration(microsOf(res.CompletedAt)-start) * time.Microsecond))}
		r, ok := sums[k]
		if !ok {
			r = rowv{"client_id": k.client, "hour": micros(k.hour), "duration_class": k.class, "passes": int64(0),
				"failed": int64(0), "partial": int64(0), "clean": int64(0), "drift_detected": int64(0)}
			sums[k] = r
			order = append(order, k)
		}
		add := func(col string, yes bool) {
			if yes {
				r[col] = r[col].(int64) + 1
			}
		}
		add("passes", true)
		add("failed", res.Status == store.ResultFailed)
		add("partial", res.Status == store.ResultPartial)
		add("clean", res.Status == store.ResultSuccess && res.DriftCount == 0)
		add("drift_detected", res.DriftDetected)
	}
	out := make([]rowv, 0, len(order))
	for _, k := range order {
		out = append(out, sums[k])
	}
	return out, nil
}

// The audit chain: entries, the head (after the last entry, or the
// checkpoint when every entry is pruned), the checkpoint, signed heads.

func auditRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["AUDIT"] {
		if !strings.HasPrefix(getS(it, "sk"), "E") {
			continue
		}
		e, err := decodeAudit(it)
		if err != nil {
			return nil, err
		}
		out = append(out, rowv{"seq": e.Seq, "timestamp": e.Timestamp.UTC(), "action": e.Action, "client_id": e.ClientID,
			"stack_id": e.StackID, "triggered_by": e.TriggeredBy, "success": e.Success, "changes_made": attrText(it, "changes_made"),
			"approval_required": e.ApprovalRequired, "approver": e.Approver, "reconciliation_id": e.ReconciliationID,
			"drift_id": e.DriftID, "prev_hash": e.PrevHash, "hash": e.Hash})
	}
	return out, nil
}

func addAuditRow(im *importer, r rowv) error {
	e := store.AuditEntry{Seq: r.n("seq"), Timestamp: r.t("timestamp"), Action: r.s("action"), ClientID: r.s("client_id"),
		StackID: r.s("stack_id"), TriggeredBy: r.s("triggered_by"), Success: r.b("success"),
		ApprovalRequired: r.b("approval_required"), Approver: r.s("approver"), ReconciliationID: r.s("reconciliation_id"),
		DriftID: r.s("drift_id"), PrevHash: r.s("prev_hash"), Hash: r.s("hash")}
	it, err := auditItem(e)
	if err != nil {
		return err
	}
	if c := r.sp("changes_made"); c != nil {
		it["changes_made"] = str(*c)
	}
	if err := im.put(tData, it); err != nil {
		return err
	}
	if im.auditHead == nil || e.Seq > im.auditHead.Seq {
		im.auditHead = &store.AuditEntry{Seq: e.Seq, Hash: e.Hash}
	}
	im.once("audit head", finishAuditHead)
	return nil
}

func finishAuditHead(im *importer) error {
	if im.auditHead == nil {
		return nil
	}
	return im.derive(tData, map[string]types.AttributeValue{"pk": str(auditPK), "sk": str("HEAD"),
		"seq": num(im.auditHead.Seq), "hash": str(im.auditHead.Hash)})
}

func checkpointRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["AUDIT"] {
		if getS(it, "sk") != "CP" {
			continue
		}
		var cp store.AuditCheckpoint
		if err := json.Unmarshal([]byte(getS(it, "doc")), &cp); err != nil {
			return nil, fmt.Errorf("decode audit checkpoint: %w", err)
		}
		out = append(out, rowv{"one": true, "seq": cp.Seq, "hash": cp.Hash, "count": cp.Count,
			"created_at": store.Truncate(cp.CreatedAt).UTC(), "key_id": cp.KeyID, "signature": cp.Signature})
	}
	return out, nil
}

func addCheckpoint(im *importer, r rowv) error {
	cp := store.AuditCheckpoint{Seq: r.n("seq"), Hash: r.s("hash"), Count: r.n("count"), CreatedAt: r.t("created_at"),
		KeyID: r.s("key_id"), Signature: r.s("signature")}
	doc, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := im.put(tData, map[string]types.AttributeValue{"pk": str(auditPK), "sk": str("CP"), "seq": num(cp.Seq), "doc": str(string(doc))}); err != nil {
		return err
	}
	// With every entry pruned, the head is the checkpoint's entry.
	if im.auditHead == nil || cp.Seq > im.auditHead.Seq {
		im.auditHead = &store.AuditEntry{Seq: cp.Seq, Hash: cp.Hash}
	}
	im.once("audit head", finishAuditHead)
	return nil
}

func auditHeadRows(x *exportSet) ([]rowv, error) {
	var out []rowv
	for _, it := range x.kinds["AUDITHEAD"] {
		h, err := decodeAuditHead(it)
		if err != nil {
			return nil, err
		}
		out = append(out, rowv{"seq": h.Seq, "key_id": h.KeyID, "hash": h.Hash, "signed_at": store.Truncate(h.SignedAt).UTC(),
			"signature": h.Signature})
	}
	return out, nil
}

func addAuditHead(im *importer, r rowv) error {
	h := store.AuditHead{Seq: r.n("seq"), Hash: r.s("hash"), SignedAt: r.t("signed_at"), KeyID: r.s("key_id"), Signature: r.s("signature")}
	doc, err := json.Marshal(h)
	if err != nil {
		return err
	}
	it := auditHeadItemKey(h.Seq, h.KeyID)
	it["doc"], it["key_id"] = str(string(doc)), str(h.KeyID)
	return im.put(tData, it)
}
