package store

import "context"

// NextPage cuts a page read with one row more than limit (LIMIT limit+1)
// to limit rows and, when there was that one more, returns the cursor of
// the page's last row: EncodeCursor of key(last). A limit <= 0 means no
// limit: nothing is cut and there is no next page.
func NextPage[T any](rows []T, limit int, key func(last T) []any) ([]T, Page) {
	if limit <= 0 || len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, EncodeCursor(key(rows[limit-1])...)
}

// The cursor keys of the List methods, the same in both drivers (a cursor
// means the same to each), ending with the row's sort key; times are unix
// microseconds.

// StateKey is the cursor key of ListStates: client and stack.
func StateKey(r StateRecord) []any { return []any{r.ClientID, r.StackID} }

// StackRefKey is the cursor key of ListStackRefs, StateKey's.
func StackRefKey(r StackRef) []any { return []any{r.ClientID, r.StackID} }

// ContentKey is the cursor key of ListContent: client, provider, source
// and content id.
func ContentKey(c ContentItem) []any {
	return []any{c.ClientID, c.ProviderName, c.Source, c.ContentID}
}

// HealKey is the cursor key of ListHeals: CreatedAt and ID.
func HealKey(h HealAttempt) []any { return []any{Truncate(h.CreatedAt).UnixMicro(), h.ID} }

// ApprovalKey is the cursor key of ListApprovals: CreatedAt and ID.
func ApprovalKey(a Approval) []any { return []any{Truncate(a.CreatedAt).UnixMicro(), a.ID} }

// ReconciliationKey is the cursor key of ListReconciliations: StartedAt
// and seq, the order in which the store inserted r (not a field of r).
func ReconciliationKey(r ReconciliationResult, seq int64) []any {
	return []any{Truncate(r.StartedAt).UnixMicro(), seq}
}

// AuditKey is the cursor key of ListAudit: Seq.
func AuditKey(e AuditEntry) []any { return []any{e.Seq} }

// All reads every page of a cursor-paginated List call: list is called
// with "" and then with each page's next cursor until a page has none.
// Callers that need every row (the heal history behind max_attempts and
// backoff) use it rather than one large limit, which the store caps at
// MaxLimit.
func All[T any](list func(cursor Page) ([]T, Page, error)) ([]T, error) {
	var out []T
	for cursor := Page(""); ; {
		rows, next, err := list(cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// AllStates reads every stack of a client ("" for every client) page by
// page (ListStates with MaxLimit), in ListStates' order.
func AllStates(ctx context.Context, s Store, clientID string) ([]StateRecord, error) {
	return All(func(cursor Page) ([]StateRecord, Page, error) {
		return s.ListStates(ctx, clientID, cursor, MaxLimit)
	})
}
