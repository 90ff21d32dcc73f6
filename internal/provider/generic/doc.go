// Package generic holds the webhook verification and normalisation of the
// spec's Integration API (webhook.go: the Standard Webhooks signature
// scheme, a body that is the spec's ContentChangeEvent) and, later, its
// management-API driver.
package generic
