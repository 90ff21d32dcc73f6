package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

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
