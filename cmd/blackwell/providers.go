package main

import (
	"log/slog"

	"github.com/blackwellio/blackwell/internal/build"
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
func newBuilder(events build.EventSink, getenv func(string) (string, bool), log *slog.Logger, onRecorded func(clientID, stackID string)) *build.Builder {
	return build.NewBuilder(build.BuilderOptions{
		Events: events,
		Runners: map[string]build.Runner{
			build.DriverHook:      build.NewHookRunner(build.HookOptions{}),
			build.DriverCommand:   build.NewCommandRunner(build.CommandOptions{}),
			build.DriverCodeBuild: build.NewCodeBuildRunner(build.CodeBuildOptions{Getenv: getenv}),
		},
		OnRecorded: onRecorded,
		Logger:     log,
	})
}
