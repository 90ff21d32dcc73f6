package main

import "fmt"

// stackNotes are the sentences printed under one stack's status: what a
// hold (the API shows only one that holds) and a config_pending drift
// mean, in words.
func stackNotes(r wireState) []string {
	var out []string
	if r.Hold != nil {
		out = append(out, fmt.Sprintf("%s/%s is %s: the config file and apply leave its desired state alone until then (blackwell unpin %s/%s ends the hold)",
			r.ClientID, r.StackID, r.Hold.describe(), r.ClientID, r.StackID))
	}
	for _, d := range r.DriftDetails {
		if d.Code != "config_pending" {
			continue
		}
		desired, applied := driftValues(d.Code, d.Expected, d.Observed)
		out = append(out, fmt.Sprintf("config_pending: the desired state changed (now %s, %s) and is not in effect yet: a pass last found the stack as declared at %s, and the other drift keeps it from reaching the new one; it clears when a pass finds the stack as declared",
			r.StateVersion, desired, applied))
	}
	return out
}
