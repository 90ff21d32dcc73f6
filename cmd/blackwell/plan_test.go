package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDiffJSON(t *testing.T) {
	t.Parallel()
	var from, to any
	require.NoError(t, json.Unmarshal([]byte(`{"a": 1, "b": {"c": "x", "d": [1, 2]}, "gone": true, "odd key": 1}`), &from))
	require.NoError(t, json.Unmarshal([]byte(`{"a": 1, "b": {"c": "y", "d": [1, 2], "e": null, "f": 2}, "odd key": 2}`), &to))
	require.Equal(t, []planChangeItem{
		{Op: "~", Path: "b.c", From: "x", To: "y"},
		{Op: "+", Path: "b.f", To: float64(2)},
		{Op: "-", Path: "gone", From: true},
		{Op: "~", Path: `["odd key"]`, From: float64(1), To: float64(2)},
	}, diffJSON("", from, to))
	require.Empty(t, diffJSON("", from, from))
}

func TestPrintPlanColour(t *testing.T) {
	t.Parallel()
	p := plan{
		Stacks: []planStack{
			{ClientID: "a", StackID: "new", Action: planCreate},
			{ClientID: "a", StackID: "old", Action: planChange, CurrentVersion: "v1.0.0", Changes: []planChangeItem{
				{Op: "~", Path: "x", From: 1, To: 2}, {Op: "-", Path: "y", From: true},
			}},
		},
		Summary: planSummary{Add: 1, Change: 1},
	}
	var plain, coloured bytes.Buffer
	printPlan(&plain, p, false)
	printPlan(&coloured, p, true)
	require.NotContains(t, plain.String(), "\x1b[")
	require.Contains(t, coloured.String(), ansiGreen+"+"+ansiReset+" a/new")
	require.Contains(t, coloured.String(), ansiYellow+"~"+ansiReset+" a/old")
	require.Contains(t, coloured.String(), ansiRed+"-"+ansiReset+" y: true")
	require.Contains(t, plain.String(), "Plan: 1 to add, 1 to change, 0 unchanged\n")
	require.False(t, isTerminal(&plain), "a buffer is not a terminal")
}
