package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTriggerPayloads(t *testing.T) {
	t.Parallel()
	many := func(n, size int) []string {
		var keys []string
		for i := range n {
			k := fmt.Sprintf("c%d/", i)
			keys = append(keys, k+strings.Repeat("s", size-len(k)))
		}
		return keys
	}
	for _, tc := range []struct {
		name     string
		keys     []string
		trigger  string
		payloads int
		err      bool
	}{
		{name: "one", keys: []string{"acme/shop"}, trigger: "event", payloads: 1},
		{name: "several in one", keys: []string{"acme/shop", "acme/blog", "globex/site"}, trigger: "manual", payloads: 1},
		// 100 lines of 6+1+72 = 79 bytes and 99 newlines:: 7,999 bytes, the most one payload holds.
		{name: "exactly full", keys: many(100, 72), trigger: "config", payloads: 1},
		{name: "one byte over", keys: many(100, 73), trigger: "config", payloads: 2},
		{name: "many", keys: many(1000, 60), trigger: "event", payloads: 9},
		{name: "trigger with a bar", keys: []string{"acme/shop"}, trigger: "a|b", payloads: 1},
		{name: "key with a bar", keys: []string{"acme/sh|op"}, trigger: "event", err: true},
		{name: "key with a newline", keys: []string{"acme/sh\nop"}, trigger: "event", err: true},
		{name: "trigger with a newline", keys: []string{"acme/shop"}, trigger: "ev\nent", err: true},
		{name: "key too long", keys: many(1, maxPayload), trigger: "event", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			payloads, err := triggerPayloads(tc.keys, tc.trigger)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Len(t, payloads, tc.payloads)
			var keys []string
			for _, p := range payloads {
				require.LessOrEqual(t, len(p), maxPayload)
				parsePayload(p, func(key, trigger string) {
					require.Equal(t, tc.trigger, trigger)
					keys = append(keys, key)
				})
			}
			require.Equal(t, tc.keys, keys, "every key, in order, once")
		})
	}
}
