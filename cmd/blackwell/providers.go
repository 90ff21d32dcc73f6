package main

import (
	"log/slog"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/provider/generic"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
)

// newProviderRegistry wires the provider drivers, by the provider names a
// binding uses, into the registry the reconcile loop observes through.
func newProviderRegistry(getenv func(string) (string, bool), log *slog.Logger) *provider.Registry {
	return provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{
			"shopify":    shopify.New(shopify.Options{}),
			"sanity":     sanity.New(sanity.Options{}),
			"contentful": contentful.New(contentful.Options{}),
			"generic":    generic.New(generic.Options{}),
		},
		Getenv: getenv,
		Logger: log,
	})
}

// newBuilder wires the build runners into a Builder that records each
// build's outcome through events (the store) and calls onRecorded after.
// Command builds run only with serve --allow-command-builds; without, a
// stored one fails saying so.
func newBuilder(events build.EventSink, getenv func(string) (string, bool), log *slog.Logger, allowCommands bool, onRecorded func(clientID, stackID string)) *build.Builder {
	runners := map[string]build.Runner{
		build.DriverHook:      build.NewHookRunner(build.HookOptions{}),
		build.DriverCommand:   build.Disabled{Reason: "command builds are disabled (serve --allow-command-builds)"},
		build.DriverCodeBuild: build.NewCodeBuildRunner(build.CodeBuildOptions{Getenv: getenv}),
	}
	if allowCommands {
		runners[build.DriverCommand] = build.NewCommandRunner(build.CommandOptions{})
	}
	return build.NewBuilder(build.BuilderOptions{
		Events:     events,
		Runners:    runners,
		OnRecorded: onRecorded,
		Logger:     log,
	})
}

// credentialDestinations names where a binding's credentials go: its
// provider driver's API and its build's hook or CodeBuild endpoint. The API
// keeps a client-scoped token from adding one (config.Tenant).
func credentialDestinations(reg *provider.Registry) func(clientID, stackID, role string, spec config.StackSpec) []string {
	return func(clientID, stackID, role string, spec config.StackSpec) []string {
		return append(reg.Destinations(clientID, stackID, role, spec), build.Destinations(spec.Providers[role].Build)...)
	}
}
