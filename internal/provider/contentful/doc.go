// Package contentful holds Contentful's webhook verification and
// normalisation (webhook.go: request verification over the canonical
// request, X-Contentful-Topic mapped to the spec's event types, the
// content-cache record of entries and assets) and, later, its
// management-API driver (webhook definitions through the Content
// Management API).
package contentful
