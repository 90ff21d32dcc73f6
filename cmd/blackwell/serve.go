package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newServeCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "Run the reconciler and its API", RunE: func(*cobra.Command, []string) error { return errors.New("serve: not wired yet") }}
}

func newDemoCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Run a live demo world", RunE: func(*cobra.Command, []string) error { return errors.New("demo: not wired yet") }}
}
