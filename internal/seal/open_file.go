package seal

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/blackwellio/blackwell/internal/store"
)

// OpenFile puts payload sealing around a freshly opened store: with a
// keyFile, event and outbox payloads are sealed with the store's data keys
// (the first made on a store without one); without, a store that holds
// sealed data is refused. On an error st is closed.
func OpenFile(ctx context.Context, st store.Store, keyFile string, log *slog.Logger) (store.Store, error) {
	var kr *Keyring
	if keyFile != "" {
		var err error
		if kr, err = ReadKeyFile(keyFile); err != nil {
			st.Close()
			return nil, err
		}
	}
	sealed, err := Open(ctx, st, Options{Keyring: kr, Logger: log})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("payload sealing: %w", err)
	}
	return sealed, nil
}
