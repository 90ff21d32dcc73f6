package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxRDAPBody bounds the RDAP answer LookupDomain reads.
const MaxRDAPBody = 1 << 20

// RDAPDomain is what Blackwell reads of an RDAP domain object (RFC 9083
// section 5.3): its name and the dates of its events.
type RDAPDomain struct {
	LDHName string
	// Expiration and Registration are the events of those actions; nil
	// when absent. Several expiration events give the latest.
	Expiration   *time.Time
	Registration *time.Time
}

type rdapDomainJSON struct {
	ObjectClassName string `json:"objectClassName"`
	LDHName         string `json:"ldhName"`
	Events          []struct {
		Action string `json:"eventAction"`
		Date   string `json:"eventDate"`
	} `json:"events"`
}

// ParseRDAPDomain reads an RDAP domain response. It is a parser of outside
// input: anything but a JSON object of objectClassName "domain" is an
// error, and so is an event date that is not RFC 3339 (naming the event).
func ParseRDAPDomain(body []byte) (RDAPDomain, error) {
	var raw rdapDomainJSON
	if err := json.Unmarshal(body, &raw); err != nil {
		return RDAPDomain{}, fmt.Errorf("rdap: not a JSON object: %v", err)
	}
	if raw.ObjectClassName != "domain" {
		return RDAPDomain{}, fmt.Errorf("rdap: objectClassName %q, want \"domain\"", clip(raw.ObjectClassName, 40))
	}
	d := RDAPDomain{LDHName: clip(raw.LDHName, 253)}
	for i, ev := range raw.Events {
		action := strings.ToLower(strings.TrimSpace(ev.Action))
		if action != "expiration" && action != "registration" {
			continue
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(ev.Date))
		if err != nil {
			return RDAPDomain{}, fmt.Errorf("rdap: event %d (%s): eventDate %q is not RFC 3339", i, action, clip(ev.Date, 64))
		}
		t = t.UTC()
		switch {
		case action == "registration":
			d.Registration = &t
		case d.Expiration == nil || t.After(*d.Expiration):
			d.Expiration = &t
		}
	}
	return d, nil
}

// ErrDomainNotFound is the registry's 404 for a domain it does not hold.
var ErrDomainNotFound = errors.New("rdap: the registry holds no such domain")

// LookupDomain asks the RDAP server at base (its URL up to, not including,
// "/domain/") for domain and parses the answer.
func LookupDomain(ctx context.Context, c *http.Client, base, domain string) (RDAPDomain, error) {
	u := strings.TrimSuffix(base, "/") + "/domain/" + url.PathEscape(strings.ToLower(strings.TrimSuffix(domain, ".")))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return RDAPDomain{}, fmt.Errorf("rdap: %w", err)
	}
	req.Header.Set("Accept", "application/rdap+json")
	resp, err := c.Do(req)
	if err != nil {
		return RDAPDomain{}, fmt.Errorf("rdap: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxRDAPBody+1))
	switch {
	case err != nil:
		return RDAPDomain{}, fmt.Errorf("rdap: reading the answer: %w", err)
	case len(body) > MaxRDAPBody:
		return RDAPDomain{}, fmt.Errorf("rdap: the answer is over %d bytes", MaxRDAPBody)
	case resp.StatusCode == http.StatusNotFound:
		return RDAPDomain{}, ErrDomainNotFound
	case resp.StatusCode != http.StatusOK:
		return RDAPDomain{}, fmt.Errorf("rdap: the registry answered %d", resp.StatusCode)
	}
	return ParseRDAPDomain(body)
}

// DomainReadingOf turns a lookup's outcome into what the domain indicator
// reads.
func DomainReadingOf(domain string, d RDAPDomain, err error, seen time.Time) DomainReading {
	if err != nil {
		return DomainReading{Domain: domain, Seen: seen, Err: err.Error()}
	}
	return DomainReading{Domain: domain, Expiry: d.Expiration, Seen: seen}
}
