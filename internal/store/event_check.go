package store

import (
	"encoding/json"
	"fmt"
)

// CheckEvent rejects an event that cannot be stored: it needs an event id
// and a client id, and a payload, when it has one, that is JSON.
func CheckEvent(e Event) error {
	if e.EventID == "" || e.ClientID == "" {
		return fmt.Errorf("event and client ids are required (got %q, %q)", e.EventID, e.ClientID)
	}
	if len(e.Payload) > 0 && !json.Valid(e.Payload) {
		return fmt.Errorf("event %s: payload is not valid JSON", e.EventID)
	}
	return nil
}

// CheckIngest validates the input of IngestEvents before anything is
// written: every event passes CheckEvent, and a content item names its
// provider and content id.
func CheckIngest(in []IngestEvent) error {
	for _, r := range in {
		if err := CheckEvent(r.Event); err != nil {
			return err
		}
		if c := r.Content; c != nil && (c.ContentID == "" || c.ProviderName == "") {
			return fmt.Errorf("event %s: content item needs a provider and a content id", r.Event.EventID)
		}
	}
	return nil
}
