// Package shopify holds Shopify's webhook verification and normalisation
// (webhook.go: the X-Shopify-Hmac-Sha256 scheme, topics mapped to the
// spec's event types, the content-cache record of products and
// collections) and, later, its management-API driver (webhook
// subscriptions through the Admin API).
package shopify
