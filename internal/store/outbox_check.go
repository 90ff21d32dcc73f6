package store

import (
	"encoding/json"
	"fmt"
)

// CheckSubscriberCommit validates a commit before CommitSubscriber writes
// anything: every state document and delivery payload is JSON.
func CheckSubscriberCommit(c SubscriberCommit) error {
	for k, doc := range c.States {
		if !json.Valid(doc) {
			return fmt.Errorf("commit subscriber %s: state %q is not valid JSON", c.Name, k)
		}
	}
	for _, k := range c.DeleteStates {
		if _, ok := c.States[k]; ok {
			return fmt.Errorf("commit subscriber %s: state %q is both written and deleted", c.Name, k)
		}
	}
	for _, d := range c.Deliveries {
		if !json.Valid(d.Payload) {
			return fmt.Errorf("commit subscriber %s: delivery %q payload is not valid JSON", c.Name, d.ID)
		}
	}
	if err := CheckStream(c.Stream); err != nil {
		return fmt.Errorf("commit subscriber %s: %w", c.Name, err)
	}
	return nil
}
