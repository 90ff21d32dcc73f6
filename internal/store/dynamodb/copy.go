package dynamodb

// Export and import of rows for store copy and backup (store.Ops).
//
// The rows are those of the SQL drivers, table by table (store.CopyTables);
// each table maps onto the items this driver writes anyway (the files of
// each record say their layout), not onto a second layout:
//
//   - ExportRows scans the three tables once (strongly consistent reads),
//     sorts the items by kind (the data table's pk up to its first "/")
//     and builds each table's rows from its kind's items, sorted by the
//     table's Order. A scan is not a snapshot: rows written during it may
//     be seen or not, so stop writers first (store copy says so).
//   - ImportRows checks that the copied tables hold nothing, collects the
//     items of every row the source emits (nothing is written while the
//     source is read, so a source that fails leaves the target empty),
//     adds the items the driver derives from them (counters, the audit
//     head, activity roll-ups, pointers, locks, queues), then writes them,
//     each only if absent. DynamoDB has no transaction of that size: a
//     write that fails has the items written before it deleted again
//     (best effort, reported when that fails too), so the target is left
//     empty as the SQL drivers' rollback leaves it.
//
// Columns the SQL tables keep that the items did not (the insertion order
// seq of desired versions, results and drift returns; a drift's
// acknowledged_at) are kept as attributes of the same items on import;
// items written by the driver itself without them are numbered after the
// highest kept seq, in their own order. The hourly roll-up of results
// (pass_hours) is not stored by this driver: it is computed from the
// results on export, as the SQL drivers keep it (the aggregate of the
// results that exist), and its imported rows are checked, not stored.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

var (
	_ store.Store         = (*Store)(nil)
	_ store.RowsVersioner = (*Store)(nil)
)

// RowsVersion is the schema version of the SQL drivers whose tables
// (store.CopyTables) the codecs map: a migration of theirs that changes a
// copied table changes the codecs and this number (a test compares it
// with theirs).
const RowsVersion = 20

// RowsSchemaVersion is RowsVersion, once the store's own schema is this
// program's.
func (s *Store) RowsSchemaVersion(ctx context.Context) (int, error) {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return 0, err
	}
	if v != LatestSchemaVersion() {
		return 0, fmt.Errorf("dynamodb store: schema version %d, this program's is %d", v, LatestSchemaVersion())
	}
	return RowsVersion, nil
}

// item is one item of one of the store's tables (the name after the
// prefix).
type item struct {
	table string
	attrs map[string]types.AttributeValue
	// derived: an item the driver derives from the rows' items (a counter,
	// a pointer, a lock, a roll-up), written over one left behind in the
	// target (a counter or a roll-up at zero outlives what it counted);
	// the others are written only if absent.
	derived bool
}

// exportSet is what ExportRows read: the state and event items, and the
// data table's items by kind.
type exportSet struct {
	states []map[string]types.AttributeValue
	events []map[string]types.AttributeValue
	kinds  map[string][]map[string]types.AttributeValue
}

// kindOf is the kind of a data item: its pk up to the first "/".
func kindOf(it map[string]types.AttributeValue) string {
	pk := getS(it, "pk")
	if i := strings.IndexByte(pk, '/'); i >= 0 {
		return pk[:i]
	}
	return pk
}

// codec maps one copied table onto the driver's items.
type codec struct {
	// kinds are the data-item kinds (and "state", "event" for those
	// tables) of the table's rows, whose presence makes it not empty
	// (the items derived from them are not counted).
	kinds []string
	// rows builds the table's rows (in any order) from what was read, by
	// column name.
	rows func(x *exportSet) ([]rowv, error)
	// add turns one row (checked against its table's kinds) into items.
	add func(im *importer, r rowv) error
}

// ExportRows reads every item and calls fn with the rows of each table,
// in the tables' order, each sorted by its Order columns.
func (s *Store) ExportRows(ctx context.Context, tables []store.Table, fn func(t store.Table, row []any) error) error {
	for _, t := range tables {
		if _, ok := codecs[t.Name]; !ok {
			return fmt.Errorf("export %s: %w: no such table in this driver", t.Name, ErrIncomplete)
		}
	}
	x, err := s.readAll(ctx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, t := range tables {
		named, err := codecs[t.Name].rows(x)
		if err != nil {
			return fmt.Errorf("export %s: %w", t.Name, err)
		}
		rows := make([][]any, len(named))
		for i, r := range named {
			rows[i] = r.values(t)
		}
		sortRows(t, rows)
		for _, row := range rows {
			if _, err := store.EncodeRow(t, row); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if err := fn(t, row); err != nil {
				return err
			}
		}
	}
	return nil
}

// readAll scans the store's three tables.
func (s *Store) readAll(ctx context.Context) (*exportSet, error) {
	x := &exportSet{kinds: map[string][]map[string]types.AttributeValue{}}
	var err error
	if x.states, err = s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tState)), ConsistentRead: aws.Bool(true)}); err != nil {
		return nil, fmt.Errorf("scan states: %w", err)
	}
	if x.events, err = s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tEvents)), ConsistentRead: aws.Bool(true)}); err != nil {
		return nil, fmt.Errorf("scan events: %w", err)
	}
	data, err := s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("scan data: %w", err)
	}
	for _, it := range data {
		k := kindOf(it)
		x.kinds[k] = append(x.kinds[k], it)
	}
	return x, nil
}

// sortRows sorts rows by t's Order columns.
func sortRows(t store.Table, rows [][]any) {
	idx := make([]int, len(t.Order))
	for i, o := range t.Order {
		idx[i] = slices.IndexFunc(t.Columns, func(c store.Column) bool { return c.Name == o })
	}
	slices.SortStableFunc(rows, func(a, b []any) int {
		for _, i := range idx {
			if d := compareValue(a[i], b[i]); d != 0 {
				return d
			}
		}
		return 0
	})
}

func compareValue(a, b any) int {
	switch a := a.(type) {
	case string:
		b, _ := b.(string)
		return strings.Compare(a, b)
	case int64:
		b, _ := b.(int64)
		return cmp.Compare(a, b)
	case bool:
		b, _ := b.(bool)
		switch {
		case a == b:
			return 0
		case !a:
			return -1
		}
		return 1
	case time.Time:
		b, _ := b.(time.Time)
		return a.Compare(b)
	}
	return 0
}

// importer collects the items of an import.
type importer struct {
	s     *Store
	items []item
	// seen: the keys collected, so two rows of one key fail the import.
	seen map[string]bool
	// what the derived items are built from once every row is in.
	eventMax       int64
	activity       []eventActivity
	auditHead      *store.AuditEntry
	openForecasts  map[drift.Code]int64
	complianceMax  int64
	outboxMax      int64
	subscribers    map[string]map[string]types.AttributeValue
	outboxChannels map[string]map[string]bool
	finish         []func(im *importer) error
	onceDone       map[string]bool
}

// eventActivity is what an event counts in its activity item.
type eventActivity struct {
	client, stack, provider, typ, ctype string
	ts                                  int64
}

// put adds the item of a row.
func (im *importer) put(table string, attrs map[string]types.AttributeValue) error {
	return im.add(item{table: table, attrs: attrs})
}

// derive adds an item derived from the rows' items.
func (im *importer) derive(table string, attrs map[string]types.AttributeValue) error {
	return im.add(item{table: table, attrs: attrs, derived: true})
}

func (im *importer) add(it item) error {
	if err := checkItem("import", it.attrs); err != nil {
		return err
	}
	k := it.table + "\x00" + keyString(it.table, it.attrs)
	if im.seen[k] {
		return fmt.Errorf("%w: two rows of one key (%s)", store.ErrConflict, strings.ReplaceAll(keyString(it.table, it.attrs), "\x00", " "))
	}
	im.seen[k] = true
	im.items = append(im.items, it)
	return nil
}

// once runs fn at the end of the import, once per name.
func (im *importer) once(name string, fn func(im *importer) error) {
	if im.onceDone[name] {
		return
	}
	im.onceDone[name] = true
	im.finish = append(im.finish, fn)
}

func keyNames(table string) (string, string) {
	switch table {
	case tState:
		return "client_id", "stack_id"
	case tEvents:
		return "event_id", ""
	}
	return "pk", "sk"
}

func keyString(table string, attrs map[string]types.AttributeValue) string {
	h, r := keyNames(table)
	return getS(attrs, h) + "\x00" + getS(attrs, r)
}

func keyOf(table string, attrs map[string]types.AttributeValue) map[string]types.AttributeValue {
	h, r := keyNames(table)
	k := map[string]types.AttributeValue{h: attrs[h]}
	if r != "" {
		k[r] = attrs[r]
	}
	return k
}

// ImportRows fills an empty store with the rows rows emits (see the top of
// this file for what "one transaction" is on DynamoDB).
func (s *Store) ImportRows(ctx context.Context, tables []store.Table, rows func(emit func(t store.Table, row []any) error) error) error {
	known := map[string]bool{}
	for _, t := range tables {
		if _, ok := codecs[t.Name]; !ok {
			return fmt.Errorf("import %s: %w: no such table in this driver", t.Name, ErrIncomplete)
		}
		known[t.Name] = true
	}
	if err := s.checkEmpty(ctx, tables); err != nil {
		return err
	}
	im := &importer{s: s, seen: map[string]bool{}, onceDone: map[string]bool{}}
	emit := func(t store.Table, row []any) error {
		if !known[t.Name] {
			return fmt.Errorf("import: table %s was not checked empty", t.Name)
		}
		if _, err := store.EncodeRow(t, row); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if err := codecs[t.Name].add(im, named(t, row)); err != nil {
			return fmt.Errorf("import %s: %w", t.Name, err)
		}
		return nil
	}
	if err := rows(emit); err != nil {
		return err
	}
	for i := 0; i < len(im.finish); i++ {
		if err := im.finish[i](im); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	return s.writeImport(ctx, im.items)
}

// checkEmpty fails with store.ErrNotEmpty when an item of the tables'
// kinds is stored.
func (s *Store) checkEmpty(ctx context.Context, tables []store.Table) error {
	want := map[string]string{}
	for _, t := range tables {
		for _, k := range codecs[t.Name].kinds {
			want[k] = t.Name
		}
	}
	if name, ok := want["state"]; ok {
		out, err := s.api.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tState)), Limit: aws.Int32(1), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("import: check %s is empty: %w", name, err)
		}
		if len(out.Items) > 0 {
			return fmt.Errorf("%w: table %s has rows", store.ErrNotEmpty, name)
		}
	}
	if name, ok := want["event"]; ok {
		out, err := s.api.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tEvents)), Limit: aws.Int32(1), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("import: check %s is empty: %w", name, err)
		}
		if len(out.Items) > 0 {
			return fmt.Errorf("%w: table %s has rows", store.ErrNotEmpty, name)
		}
	}
	in := &dynamodb.ScanInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("pk")}
	for {
		out, err := s.api.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("import: check the data table is empty: %w", err)
		}
		for _, it := range out.Items {
			if name, ok := want[kindOf(it)]; ok {
				return fmt.Errorf("%w: table %s has rows", store.ErrNotEmpty, name)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// importWorkers is how many writes of an import are in flight.
const importWorkers = 16

// writeImport writes the items, each only if absent; on a failure it
// deletes those it wrote.
func (s *Store) writeImport(ctx context.Context, items []item) error {
	written := make([]bool, len(items))
	var (
		mu      sync.Mutex
		first   error
		wg      sync.WaitGroup
		stopped atomic.Bool
	)
	next := make(chan int)
	for range importWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := items[i]
				h, _ := keyNames(it.table)
				in := &dynamodb.PutItemInput{TableName: aws.String(s.table(it.table)), Item: it.attrs}
				if !it.derived {
					in.ConditionExpression, in.ExpressionAttributeNames = aws.String("attribute_not_exists(#k)"), map[string]string{"#k": h}
				}
				_, err := s.api.PutItem(ctx, in)
				mu.Lock()
				switch {
				case err == nil:
					written[i] = true
				case first == nil:
					first = fmt.Errorf("write %s item %s: %w", it.table, strings.ReplaceAll(keyString(it.table, it.attrs), "\x00", " "), translate(err))
					stopped.Store(true)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range items {
		if stopped.Load() || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		return nil
	}
	var undo []error
	ctx = context.WithoutCancel(ctx)
	for i, ok := range written {
		if !ok {
			continue
		}
		it := items[i]
		if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table(it.table)), Key: keyOf(it.table, it.attrs)}); err != nil {
			undo = append(undo, err)
		}
	}
	if len(undo) > 0 {
		return fmt.Errorf("import: %w; and %d of the items written before it could not be deleted again (the target is not empty): %w",
			first, len(undo), errors.Join(undo...))
	}
	return fmt.Errorf("import: %w (the items written before it were deleted again)", first)
}

// rowv is a row by column name.
type rowv map[string]any

func named(t store.Table, row []any) rowv {
	r := make(rowv, len(row))
	for i, c := range t.Columns {
		r[c.Name] = row[i]
	}
	return r
}

// values is r in t's column order (a column r lacks is NULL).
func (r rowv) values(t store.Table) []any {
	out := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = r[c.Name]
	}
	return out
}

func (r rowv) s(k string) string { v, _ := r[k].(string); return v }
func (r rowv) n(k string) int64  { v, _ := r[k].(int64); return v }
func (r rowv) b(k string) bool   { v, _ := r[k].(bool); return v }
func (r rowv) t(k string) time.Time {
	v, _ := r[k].(time.Time)
	return store.Truncate(v).UTC()
}

// tp is a nullable time column: nil for NULL.
func (r rowv) tp(k string) *time.Time {
	if r[k] == nil {
		return nil
	}
	t := r.t(k)
	return &t
}

// sp is a nullable text column: nil for NULL.
func (r rowv) sp(k string) *string {
	v, ok := r[k].(string)
	if !ok {
		return nil
	}
	return &v
}
