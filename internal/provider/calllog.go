package provider

import (
	"context"
	"net/http"
	"sync"
)

// maxLoggedCalls bounds the answers a CallLog keeps.
const maxLoggedCalls = 64

// CallLog collects the HTTP statuses of the API calls made under a
// context (WithCallLog), and the deprecation headers of their answers:
// the registry gives each binding's observation one, and the forecasts
// read from it the share of refused answers (401, 403) and what the
// provider announced about its own future (Deprecation, Sunset). It is
// safe for concurrent use.
type CallLog struct {
	mu       sync.Mutex
	statuses []int
	notice   map[string]string
}

// NoticeHeaders are the answer headers by which a provider announces
// its own future: Deprecation (RFC 9745), Sunset (RFC 8594) and
// Shopify's X-Shopify-API-Deprecated-Reason.
var NoticeHeaders = []string{"Deprecation", "Sunset", "X-Shopify-API-Deprecated-Reason"}

// maxNoticeValue bounds a kept header value (the forecast parser reads
// a date or a link).
const maxNoticeValue = 256

type callLogKey struct{}

// WithCallLog returns ctx whose API calls (APIClient) add their answer's
// status to l.
func WithCallLog(ctx context.Context, l *CallLog) context.Context {
	return context.WithValue(ctx, callLogKey{}, l)
}

// logCall adds status, and the notice headers of h, to ctx's CallLog,
// if any. A header's last value seen is kept.
func logCall(ctx context.Context, status int, h http.Header) {
	l, _ := ctx.Value(callLogKey{}).(*CallLog)
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.statuses) < maxLoggedCalls {
		l.statuses = append(l.statuses, status)
	}
	for _, name := range NoticeHeaders {
		v := h.Get(name)
		if v == "" {
			continue
		}
		if len(v) > maxNoticeValue {
			v = v[:maxNoticeValue]
		}
		if l.notice == nil {
			l.notice = map[string]string{}
		}
		l.notice[name] = v
	}
}

// Notice is the notice headers the answers carried, by canonical name
// (nil if none did).
func (l *CallLog) Notice() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.notice == nil {
		return nil
	}
	out := make(map[string]string, len(l.notice))
	for k, v := range l.notice {
		out[k] = v
	}
	return out
}

// Statuses are the answers' statuses, in the order they came.
func (l *CallLog) Statuses() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.statuses...)
}
