// Package catalog is the list of the providers blackwell understands,
// written once: the webhook gateway receives their deliveries and the
// driver registry observes and heals their subscriptions from this one
// list, built where the server is wired. A fifth provider is a package
// with its Descriptor and one more entry here.
package catalog

import (
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/provider/generic"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
)

// Providers returns the providers blackwell understands, in the order
// messages list them: shopify, sanity, contentful and generic (the spec's
// Integration API, Standard Webhooks). Each call builds a new list.
func Providers() []provider.Descriptor {
	return []provider.Descriptor{
		shopify.Descriptor(),
		sanity.Descriptor(),
		contentful.Descriptor(),
		generic.Descriptor(),
	}
}
