// Package config reads blackwell.yaml: a stream of YAML documents of kinds
// Stack, ReconciliationPolicy and NotificationChannel (apiVersion
// blackwell.io/v1).
//
// Parse decodes and validates a whole file strictly: unknown fields, unknown
// kinds, wrong types, bad enums, bad durations, negative numbers, duplicate
// names and dangling references are all errors. Parse does not stop at the
// first problem: it returns an *Errors listing every problem of every
// document, each naming file:line:column of the offending key or value, so
// that one run of `blackwell validate` shows everything to fix.
//
// Secrets (fields of type Secret or SecretList: provider credentials and
// webhook secrets, build hook URLs, channel webhook URLs, routing keys and
// passwords) may hold ${VAR} references, resolved through a getenv function.
// Only the references ever leave this package as text: JSON, %v, error
// messages and the canonical form hashed by Hash carry "${VAR}", never the
// value. Every other string is taken literally.
//
// ParseWith validates under Rules: what the document's author may declare.
// Command builds come only from the operator's file with
// serve --allow-command-builds and never change through the API; a
// client-scoped author refers only to its client's variables and keeps its
// bindings' credential destinations; credential URLs are https (or
// loopback, or allowed hosts); credentials, webhook secrets and build hook
// URLs are ${VAR} references, never literal (docs/SECURITY.md, "Tenants").
//
// DecodePolicyJSON applies the same rules to a ReconciliationPolicy spec sent
// to the API as JSON. DefaultPolicy and EffectivePolicy give the policy that
// applies to a stack. Schema returns the JSON Schema of one document,
// generated from the Go types; docs/blackwell.schema.json is a copy of it.
package config
