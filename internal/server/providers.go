package server

import (
	"log/slog"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/catalog"
)

// NewProviderRegistry wires the drivers of the providers blackwell
// understands (catalog.Providers), by the provider names a binding uses,
// into the registry the reconcile loop observes through. Their API calls
// are checked by the egress allowlist eg (nil: none).
func NewProviderRegistry(getenv func(string) (string, bool), log *slog.Logger, eg *egress.Policy) *provider.Registry {
	return newProviderRegistry(catalog.Providers(), getenv, log, eg)
}

// newProviderRegistry is the registry of the drivers of providers.
func newProviderRegistry(providers []provider.Descriptor, getenv func(string) (string, bool), log *slog.Logger, eg *egress.Policy) *provider.Registry {
	// A nil client (no allowlist) is each driver's default.
	api := provider.APIClientOptions{HTTPClient: eg.HTTPClient()}
	return provider.NewRegistry(provider.RegistryOptions{
		Drivers: provider.Drivers(providers, api),
		Getenv:  getenv,
		Logger:  log,
	})
}

// NewBuilder wires the build runners into a Builder that records each
// build's outcome through events (the store) and calls onRecorded after.
// Command builds run only with serve --allow-command-builds; without, a
// stored one fails saying so. Build hooks and CodeBuild calls are checked
// by the egress allowlist eg (nil: none); a local build command is the
// operator's and is not.
func NewBuilder(events build.EventSink, getenv func(string) (string, bool), log *slog.Logger, allowCommands bool, onRecorded func(clientID, stackID string), eg *egress.Policy) *build.Builder {
	runners := map[string]build.Runner{
		build.DriverHook:      build.NewHookRunner(build.HookOptions{HTTPClient: eg.HTTPClient()}),
		build.DriverCommand:   build.Disabled{Reason: "command builds are disabled (serve --allow-command-builds)"},
		build.DriverCodeBuild: build.NewCodeBuildRunner(build.CodeBuildOptions{Getenv: getenv, HTTPClient: eg.HTTPClient()}),
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
