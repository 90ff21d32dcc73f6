package store

import (
	"errors"
	"fmt"
)

// CheckToken rejects a token that cannot be stored: it needs an ID, a
// SecretHash and a valid Role.
func CheckToken(t Token) error {
	switch {
	case t.ID == "":
		return errors.New("token id is required")
	case t.SecretHash == "":
		return errors.New("token secret hash is required")
	case !t.Role.Valid():
		return fmt.Errorf("unknown role %q", t.Role)
	}
	return nil
}
