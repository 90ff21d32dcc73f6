package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// ChannelSetOf is the record of the channels names (in any order) for
// subscriber, as replica by records it at at: the names sorted and
// deduplicated, and their hash. Only names are recorded; channel specs
// hold secrets and stay in each replica's config.
func ChannelSetOf(subscriber string, names []string, by string, at time.Time) store.ChannelSet {
	sorted := slices.Compact(slices.Sorted(slices.Values(names)))
	if sorted == nil {
		sorted = []string{}
	}
	return store.ChannelSet{Subscriber: subscriber, Hash: channelSetHash(sorted), Names: sorted, SetBy: by, SetAt: at}
}

// channelSetHash is the hex SHA-256 of the sorted names, one per line.
func channelSetHash(sorted []string) string {
	h := sha256.New()
	for _, n := range sorted {
		h.Write([]byte(n))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ChannelMismatchError says that a replica's notification channels differ
// from those recorded in the store for every replica: such a replica
// plans, sends and gives up nothing (a replica lacking a channel would
// otherwise give up, or never plan, that channel's deliveries).
type ChannelMismatchError struct {
	// Missing are recorded but not configured here; Extra configured here
	// but not recorded.
	Missing, Extra []string
	// Recorded is what the store holds.
	Recorded store.ChannelSet
}

func (e *ChannelMismatchError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing here: "+strings.Join(e.Missing, ", "))
	}
	if len(e.Extra) > 0 {
		parts = append(parts, "not recorded: "+strings.Join(e.Extra, ", "))
	}
	return fmt.Sprintf("notification channels differ from those recorded in the store by replica %s at %s (%s); "+
		"every replica must have the same channels", e.Recorded.SetBy, e.Recorded.SetAt.UTC().Format(time.RFC3339),
		strings.Join(parts, "; "))
}

// CompareChannels compares names (this replica's channels) with the
// recorded set by name: nil when they are the same set, else a
// *ChannelMismatchError naming the difference.
func CompareChannels(recorded store.ChannelSet, names []string) *ChannelMismatchError {
	mine := ChannelSetOf(recorded.Subscriber, names, "", time.Time{})
	e := &ChannelMismatchError{Recorded: recorded}
	for _, n := range recorded.Names {
		if _, found := slices.BinarySearch(mine.Names, n); !found {
			e.Missing = append(e.Missing, n)
		}
	}
	have := slices.Sorted(slices.Values(recorded.Names))
	for _, n := range mine.Names {
		if _, found := slices.BinarySearch(have, n); !found {
			e.Extra = append(e.Extra, n)
		}
	}
	if len(e.Missing) == 0 && len(e.Extra) == 0 {
		return nil
	}
	return e
}
