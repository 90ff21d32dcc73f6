package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// stackKey names a stack.
type stackKey struct{ client, stack string }

// writeConfig writes a blackwell.yaml of n stacks, perClient to a client,
// each with one http probe of target, and one policy per client with the
// interval; it returns the stacks.
func writeConfig(w io.Writer, n, perClient int, target string, interval time.Duration) ([]stackKey, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var keys []stackKey
	for _, block := range configBlocks(n, perClient, target, interval, &keys) {
		bw.WriteString(block)
	}
	return keys, bw.Flush()
}

// configBlocks is the config of writeConfig, one block of YAML documents
// per client (each block starts with "---"); the stacks are appended to
// keys.
func configBlocks(n, perClient int, target string, interval time.Duration, keys *[]stackKey) []string {
	var blocks []string
	var b strings.Builder
	for c := 0; len(*keys) < n; c++ {
		b.Reset()
		client := fmt.Sprintf("c%04d", c)
		for s := 0; s < perClient && len(*keys) < n; s++ {
			stack := fmt.Sprintf("s%03d", s)
			*keys = append(*keys, stackKey{client, stack})
			fmt.Fprintf(&b, "---\napiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: %s, stack_id: %s, environment: prod}\n"+
				"spec:\n  resources:\n    site: {probe: http, url: %q, expect_status: 200}\n", client, stack, target)
		}
		fmt.Fprintf(&b, "---\napiVersion: blackwell.io/v1\nkind: ReconciliationPolicy\nmetadata: {client_id: %s}\n"+
			"spec:\n  schedule: {interval: %s}\n  confirmation: {observations: 1}\n", client, interval)
		blocks = append(blocks, b.String())
	}
	return blocks
}

// quantile is the q-quantile (nearest rank) of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func secs(d time.Duration) float64 { return d.Seconds() }
