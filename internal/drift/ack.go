package drift

import (
	"fmt"
	"strings"
)

// AckReason is why a person acknowledged a drift. It is recorded in the
// drift_acknowledged audit entry, where the KPI report (package report)
// reads it: false positives make the false-positive rate.
type AckReason string

// The acknowledgement reasons. Their names are public (API, CLI, audit).
const (
	// AckFalsePositive: the drift was not real; the detection was wrong.
	AckFalsePositive AckReason = "false_positive"
	// AckAccepted: the drift is real and is kept as it is, for now.
	AckAccepted AckReason = "accepted"
	// AckFixedByHand: the drift is real and a person fixes it outside
	// Blackwell (or has fixed it).
	AckFixedByHand AckReason = "fixed_by_hand"
)

// AckReasons lists every acknowledgement reason.
var AckReasons = []AckReason{AckFalsePositive, AckAccepted, AckFixedByHand}

// AckReasonNames is AckReasons joined for messages: "false_positive,
// accepted, fixed_by_hand".
func AckReasonNames() string {
	names := make([]string, len(AckReasons))
	for i, r := range AckReasons {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// ParseAckReason reads an acknowledgement reason; anything else, the empty
// string included, is an error naming the allowed values.
func ParseAckReason(s string) (AckReason, error) {
	for _, r := range AckReasons {
		if s == string(r) {
			return r, nil
		}
	}
	if s == "" {
		return "", fmt.Errorf("an acknowledgement needs a reason: one of %s", AckReasonNames())
	}
	return "", fmt.Errorf("unknown acknowledgement reason %q: want one of %s (free text goes in the note)", s, AckReasonNames())
}
