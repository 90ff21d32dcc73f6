package store

// Rows is a query's result as both drivers read it: *sql.Rows and
// pgx.Rows both are one. Closing stays with the caller (their Close
// methods differ).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// CollectRows reads every row of rows with scan, in order, then rows'
// error: the loop every List method of a driver would otherwise write
// again. The first error ends it.
func CollectRows[T any](rows Rows, scan func(Rows) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// StackRefs collects the (client_id, stack_id) rows of a ListStackRefs
// query that asked for one more than limit, and the page they make.
func StackRefs(rows Rows, limit int) ([]StackRef, Page, error) {
	out, err := CollectRows(rows, func(r Rows) (StackRef, error) {
		var ref StackRef
		return ref, r.Scan(&ref.ClientID, &ref.StackID)
	})
	if err != nil {
		return nil, "", err
	}
	out, next := NextPage(out, limit, StackRefKey)
	return out, next, nil
}
