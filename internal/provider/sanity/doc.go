// Package sanity holds Sanity's GROQ-powered webhook verification and
// normalisation (webhook.go: the sanity-webhook-signature scheme, document
// operations mapped to the spec's event types, the content-cache record of
// documents) and, later, its management-API driver (webhooks of a project
// through the Sanity API).
package sanity
