package provider

import (
	"context"
	"sync"
)

// maxLoggedCalls bounds the answers a CallLog keeps.
const maxLoggedCalls = 64

// CallLog collects the HTTP statuses of the API calls made under a
// context (WithCallLog): the registry gives each binding's observation
// one, and the forecasts read the share of refused answers (401, 403)
// from it. It is safe for concurrent use.
type CallLog struct {
	mu       sync.Mutex
	statuses []int
}

type callLogKey struct{}

// WithCallLog returns ctx whose API calls (APIClient) add their answer's
// status to l.
func WithCallLog(ctx context.Context, l *CallLog) context.Context {
	return context.WithValue(ctx, callLogKey{}, l)
}

// logCall adds status to ctx's CallLog, if any.
func logCall(ctx context.Context, status int) {
	l, _ := ctx.Value(callLogKey{}).(*CallLog)
	if l == nil {
		return
	}
	l.mu.Lock()
	if len(l.statuses) < maxLoggedCalls {
		l.statuses = append(l.statuses, status)
	}
	l.mu.Unlock()
}

// Statuses are the answers' statuses, in the order they came.
func (l *CallLog) Statuses() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.statuses...)
}
