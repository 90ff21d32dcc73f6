package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// applyTxStacks is how many stacks one ApplyDesired transaction writes:
// two items each (state, new version), within TransactWriteItems' 100.
const applyTxStacks = MaxTxItems / 2

// ApplyDesired upserts stacks' desired state (store.DecideApply). Each
// stack's writes (its state and its new version) are atomic and
// conditional on the revision read; the stacks of one call are written in
// transactions of up to 50 stacks, so a call of more stacks is not atomic
// as a whole: a failure leaves the earlier groups applied, which is safe
// because applying the same desired state again converges (an unchanged
// stack writes nothing). A group whose stack changed since it was read
// fails with store.ErrConflict.
func (s *Store) ApplyDesired(ctx context.Context, in []store.DesiredInput) ([]store.ApplyResult, error) {
	if err := store.CheckDesired(in); err != nil {
		return nil, err
	}
	results := make([]store.ApplyResult, 0, len(in))
	now := s.now()
	for start := 0; start < len(in); start += applyTxStacks {
		group := in[start:min(start+applyTxStacks, len(in))]
		res, err := s.applyGroup(ctx, group, now)
		if err != nil {
			return nil, fmt.Errorf("apply desired: %w", err)
		}
		results = append(results, res...)
	}
	return results, nil
}

// pendingStack is a stack's state as a group of ApplyDesired leaves it.
type pendingStack struct {
	rec     *store.StateRecord // nil: no stack
	prevRev int64              // the stored revision, 0 for none
	lastVer string             // the last stored version (a deleted stack's versions stay)
}

func (s *Store) applyGroup(ctx context.Context, group []store.DesiredInput, now time.Time) ([]store.ApplyResult, error) {
	pending := map[string]*pendingStack{}
	var versions []store.DesiredVersion
	out := make([]store.ApplyResult, len(group))
	for i, d := range group {
		key := d.ClientID + "/" + d.StackID
		p, ok := pending[key]
		if !ok {
			var err error
			if p, err = s.loadPending(ctx, d.ClientID, d.StackID); err != nil {
				return nil, err
			}
			pending[key] = p
		}
		res, ver, err := applyOne(p, d, now)
		if err != nil {
			return nil, err
		}
		if ver != nil {
			versions = append(versions, *ver)
		}
		out[i] = res
	}
	var t txn
	for _, p := range pending {
		if p.rec != nil && p.rec.Revision != p.prevRev {
			stored, err := storedRecord(*p.rec)
			if err != nil {
				return nil, err
			}
			if err := putState(&t, s.table(tState), stored, p.prevRev); err != nil {
				return nil, err
			}
		}
	}
	for _, v := range versions {
		it, err := versionItem(v)
		if err != nil {
			return nil, err
		}
		t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
	}
	return out, s.commit(ctx, "apply desired", &t)
}

func (s *Store) loadPending(ctx context.Context, clientID, stackID string) (*pendingStack, error) {
	rec, err := s.GetState(ctx, clientID, stackID)
	if err == nil {
		return &pendingStack{rec: &rec, prevRev: rec.Revision, lastVer: rec.StateVersion}, nil
	}
	if !isNotFound(err) {
		return nil, err
	}
	vs, err := s.queryPage(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(versionsPK(clientID, stackID))},
		ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(1)}, 1)
	if err != nil {
		return nil, fmt.Errorf("read versions of %s/%s: %w", clientID, stackID, err)
	}
	p := &pendingStack{}
	if len(vs) > 0 {
		p.lastVer = getS(vs[0], "version")
	}
	return p, nil
}

// applyOne applies d to p, returning its result and the version it makes.
func applyOne(p *pendingStack, d store.DesiredInput, now time.Time) (store.ApplyResult, *store.DesiredVersion, error) {
	res := store.ApplyResult{ClientID: d.ClientID, StackID: d.StackID, Hash: d.Hash}
	if p.rec == nil {
		first, err := store.RecreatedVersion(p.lastVer)
		if err != nil {
			return res, nil, fmt.Errorf("state %s/%s: %w", d.ClientID, d.StackID, err)
		}
		rec := store.NewState(d, now)
		rec.StateVersion, rec.Hold = first, d.Hold.Pinning(first)
		p.rec = &rec
		res.Created, res.Changed, res.Version = true, true, first
		return res, newVersion(d, first, now), nil
	}
	rec := p.rec
	docs, err := store.EncodeStateDocs(*rec)
	if err != nil {
		return res, nil, err
	}
	cur := store.StoredDesired{Version: rec.StateVersion, Hash: rec.DesiredHash, Environment: rec.Environment,
		Resources: docs.Resources, Policy: docs.Policy, Observability: docs.Observability, Hold: docs.Hold}
	dec, err := store.DecideApply(cur, d, now)
	if err != nil {
		return res, nil, err
	}
	res.Version, res.Pinned = dec.Version, dec.Pinned
	if dec.Pinned != nil {
		res.Hash = cur.Hash
	}
	if dec.Action == store.ApplyNothing {
		return res, nil, nil
	}
	if err := decodeApplyDocs(dec.Docs, rec); err != nil {
		return res, nil, err
	}
	rec.UpdatedAt = now
	if rec.Revision == p.prevRev {
		rec.Revision++
	}
	if dec.Action != store.ApplyChange {
		return res, nil, nil
	}
	res.Changed = true
	rec.PreviousVersions = append(append([]string{}, rec.PreviousVersions...), rec.StateVersion)
	rec.StateVersion, rec.DesiredHash, rec.Environment, rec.Desired = dec.Version, d.Hash, d.Environment, d.Document
	return res, newVersion(d, dec.Version, now), nil
}

// decodeApplyDocs sets the summaries and hold DecideApply decided.
func decodeApplyDocs(docs store.StateDocs, rec *store.StateRecord) error {
	for _, f := range []struct {
		src string
		v   any
	}{{docs.Resources, &rec.Resources}, {docs.Policy, &rec.ReconciliationPolicy}, {docs.Observability, &rec.Observability}} {
		if err := json.Unmarshal([]byte(f.src), f.v); err != nil {
			return fmt.Errorf("state %s: %w", rec.Key(), err)
		}
	}
	var err error
	rec.Hold, err = store.DecodeHold(docs.Hold)
	return err
}

func newVersion(d store.DesiredInput, version string, now time.Time) *store.DesiredVersion {
	return &store.DesiredVersion{ClientID: d.ClientID, StackID: d.StackID, Version: version, Hash: d.Hash,
		Document: d.Document, CreatedAt: store.Truncate(now), CreatedBy: d.AppliedBy}
}

func versionItem(v store.DesiredVersion) (map[string]types.AttributeValue, error) {
	it := map[string]types.AttributeValue{
		"pk": str(versionsPK(v.ClientID, v.StackID)), "sk": str(versionKey(v.Version)),
		"client_id": str(v.ClientID), "stack_id": str(v.StackID), "version": str(v.Version),
		"hash": str(v.Hash), "document": str(string(v.Document)), "created_at": num(microsOf(v.CreatedAt)),
		"created_by": str(v.CreatedBy),
	}
	return it, checkItem(fmt.Sprintf("desired version %s/%s %s", v.ClientID, v.StackID, v.Version), it)
}

func decodeVersion(it map[string]types.AttributeValue) store.DesiredVersion {
	return store.DesiredVersion{ClientID: getS(it, "client_id"), StackID: getS(it, "stack_id"), Version: getS(it, "version"),
		Hash: getS(it, "hash"), Document: json.RawMessage(getS(it, "document")), CreatedAt: micros(getN(it, "created_at")),
		CreatedBy: getS(it, "created_by")}
}

// GetDesiredVersion returns one version, or store.ErrNotFound.
func (s *Store) GetDesiredVersion(ctx context.Context, clientID, stackID, version string) (store.DesiredVersion, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": str(versionsPK(clientID, stackID)), "sk": str(versionKey(version))}})
	if err != nil {
		return store.DesiredVersion{}, fmt.Errorf("get desired version %s/%s %s: %w", clientID, stackID, version, err)
	}
	if out.Item == nil || getS(out.Item, "version") != version {
		return store.DesiredVersion{}, fmt.Errorf("get desired version %s/%s %s: %w", clientID, stackID, version, store.ErrNotFound)
	}
	return decodeVersion(out.Item), nil
}

// ListDesiredVersions returns a stack's versions, newest first.
func (s *Store) ListDesiredVersions(ctx context.Context, clientID, stackID string) ([]store.DesiredVersion, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(versionsPK(clientID, stackID))},
		ScanIndexForward:          aws.Bool(false)})
	if err != nil {
		return nil, fmt.Errorf("list desired versions %s/%s: %w", clientID, stackID, err)
	}
	out := make([]store.DesiredVersion, 0, len(items))
	for _, it := range items {
		out = append(out, decodeVersion(it))
	}
	return out, nil
}
