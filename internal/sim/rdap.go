package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RDAP is a fake RDAP registry (RFC 9083) serving domain objects at
// GET /domain/{name}: objectClassName "domain", the ldhName, and events
// "registration" and "expiration" with RFC 3339 eventDates. A name it
// does not hold answers 404 with an RDAP error object. Serve it with
// net/http/httptest. It is safe for concurrent use.
type RDAP struct {
	requests atomic.Int64

	mu      sync.Mutex
	domains map[string]rdapDomain
	raw     map[string]string
}

type rdapDomain struct{ registered, expires time.Time }

// NewRDAP returns a registry holding no domain.
func NewRDAP() *RDAP {
	return &RDAP{domains: map[string]rdapDomain{}, raw: map[string]string{}}
}

// SetDomain registers (or renews) name until expires.
func (s *RDAP) SetDomain(name string, registered, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	delete(s.raw, key)
	s.domains[key] = rdapDomain{registered.UTC(), expires.UTC()}
}

// SetRaw makes name answer body as it is (to test what a client makes of
// a malformed answer).
func (s *RDAP) SetRaw(name, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw[strings.ToLower(name)] = body
}

// Delete forgets name.
func (s *RDAP) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.domains, strings.ToLower(name))
	delete(s.raw, strings.ToLower(name))
}

// Requests is how many requests the registry answered.
func (s *RDAP) Requests() int64 { return s.requests.Load() }

type rdapEvent struct {
	Action string `json:"eventAction"`
	Date   string `json:"eventDate"`
}

// ServeHTTP answers GET /domain/{name}.
func (s *RDAP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	w.Header().Set("Content-Type", "application/rdap+json")
	name, ok := strings.CutPrefix(r.URL.Path, "/domain/")
	if r.Method != http.MethodGet || !ok || name == "" {
		rdapError(w, http.StatusBadRequest, "only GET /domain/{name} is served")
		return
	}
	name = strings.ToLower(name)
	s.mu.Lock()
	d, held := s.domains[name]
	raw, isRaw := s.raw[name]
	s.mu.Unlock()
	switch {
	case isRaw:
		_, _ = w.Write([]byte(raw))
	case !held:
		rdapError(w, http.StatusNotFound, "no such domain")
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{
			"rdapConformance": []string{"rdap_level_0"},
			"objectClassName": "domain",
			"ldhName":         name,
			"status":          []string{"active"},
			"events": []rdapEvent{
				{"registration", d.registered.Format(time.RFC3339)},
				{"expiration", d.expires.Format(time.RFC3339)},
			},
		})
	}
}

func rdapError(w http.ResponseWriter, status int, title string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"rdapConformance": []string{"rdap_level_0"},
		"errorCode":       status,
		"title":           title,
	})
}
