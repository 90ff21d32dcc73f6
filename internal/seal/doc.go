// Package seal encrypts what the store keeps of clients' data at rest:
// event payloads and notification bodies in the outbox are sealed with
// AES-256-GCM under a data key before they reach a driver, and opened
// after they leave it, so SQLite and PostgreSQL (and a backup or a store
// copy of either, which copy rows) hold only ciphertext.
//
// Keys come in two levels. A key file (ReadKeyFile) holds one or more
// key-encryption keys (KEKs) with ids, one "id:base64" line each, the
// first one current; it never enters the store. Data keys are random,
// stored in the store wrapped (sealed) by a KEK, and named in every value
// sealed with them. A sealed value is a JSON string
//
//	"bwseal1.<data key id>.<base64url(nonce | ciphertext | tag)>"
//
// so it stays valid JSON for the drivers, whose columns are unchanged.
// The additional data binds it to its row (table and key: the event id or
// the outbox item's id) and to its data key: a value moved to another row,
// or altered, does not open.
//
// Open wraps a store: with a key file it loads (or, on a store without
// one, creates) the data keys and refuses a store whose keys were wrapped
// by a KEK the file does not hold or does not open; without one it refuses
// a store that holds data keys. A wrong or missing key is an error at
// start, never plaintext. Rotate makes a new data key, re-wraps every data
// key under the current KEK and re-seals rows in bounded batches with a
// compare-and-swap, so it may run while servers write.
package seal
