// Package generic is the provider of the spec's Integration API: the
// normalisation of its webhooks (webhook.go: deliveries signed with the
// Standard Webhooks scheme of package stdwebhook, a body that is the
// spec's ContentChangeEvent) and its management-API driver (driver.go).
package generic
