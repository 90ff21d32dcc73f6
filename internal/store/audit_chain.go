package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Timestamps are stored in UTC with microsecond precision, the finest both
// SQLite (text) and PostgreSQL (timestamptz) keep. Drivers pass every time
// through Truncate before writing, so what is read back equals what was
// hashed.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ChainHash is the hash of an audit entry linked to the previous entry's
// hash. It covers every field but Hash itself; drivers call it inside the
// transaction that appends the entry, after filling Seq and PrevHash.
func ChainHash(e AuditEntry) string {
	e.Hash = ""
	e.Timestamp = Truncate(e.Timestamp)
	if len(e.ChangesMade) == 0 {
		e.ChangesMade = nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		// AuditEntry holds only marshalable fields; ChangesMade is checked
		// to be valid JSON by the drivers before hashing.
		panic("store: marshal audit entry: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
