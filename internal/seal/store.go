package seal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// ErrSealedStore: a store that holds data keys was opened without a key
// file.
var ErrSealedStore = errors.New("the store holds sealed data")

// Options configure Open.
type Options struct {
	// Keyring is the key file's keys; nil opens the store unsealed, which
	// only a store without data keys allows.
	Keyring *Keyring
	Logger  *slog.Logger
	Now     func() time.Time
	// Refresh is how often the current data key is looked up again, so a
	// server learns a key made by keys rotate (default 1 minute).
	Refresh time.Duration
}

// DefaultRefresh is the default of Options.Refresh.
const DefaultRefresh = time.Minute

// Open returns st as the rest of the program should see it: sealing event
// and outbox payloads on their way in and opening them on their way out,
// when opts has a keyring; st itself when it has none. It fails, having
// changed nothing, when the store holds data keys and no keyring is given,
// or when a data key's KEK is not in the keyring or does not open it. On
// a store without data keys it makes the first one.
func Open(ctx context.Context, st store.Store, opts Options) (store.Store, error) {
	keys, err := st.DataKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	if opts.Keyring == nil {
		if len(keys) > 0 {
			keks := map[string]bool{}
			var names []string
			for _, k := range keys {
				if !keks[k.KEKID] {
					keks[k.KEKID] = true
					names = append(names, k.KEKID)
				}
			}
			return nil, fmt.Errorf("%w (its data keys are wrapped by key-encryption key %s): start with --encryption-key-file FILE (BLACKWELL_ENCRYPTION_KEY_FILE) holding that key",
				ErrSealedStore, strings.Join(names, ", "))
		}
		return st, nil
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	s := &Store{Store: st, inner: st, opts: opts, sealer: newSealer(), refreshed: opts.Now()}
	aeads, _, current, err := unwrapAll(opts.Keyring, keys)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		dk, aead, err := newDataKey(opts.Keyring, opts.Now())
		if err != nil {
			return nil, err
		}
		if err := st.PutDataKeys(ctx, []store.DataKey{dk}); err != nil {
			return nil, fmt.Errorf("store the first data key: %w", err)
		}
		aeads[dk.ID], current = aead, dk.ID
		opts.Logger.Info("payload sealing on: made the store's first data key", "data_key", dk.ID, "kek", dk.KEKID)
	}
	s.sealer.set(aeads, current)
	return s, nil
}

// Store is a store.Store whose event and outbox payloads are sealed at
// rest: its methods seal payloads before the driver writes them and open
// them after it reads them. Everything else passes through, rows of
// ExportRows and ImportRows (backups, store copy) too: they stay sealed.
type Store struct {
	store.Store
	inner  store.Store
	opts   Options
	sealer *Sealer

	mu        sync.Mutex
	refreshed time.Time
}

var _ store.Store = (*Store)(nil)

// Inner is the store under the sealing (keys rotate works on it).
func (s *Store) Inner() store.Store { return s.inner }

// Sealer is the store's sealer.
func (s *Store) Sealer() *Sealer { return s.sealer }

// reload reads the data keys again (a key made by keys rotate, or by
// another replica).
func (s *Store) reload(ctx context.Context) error {
	keys, err := s.inner.DataKeys(ctx)
	if err != nil {
		return fmt.Errorf("read data keys: %w", err)
	}
	aeads, _, current, err := unwrapAll(s.opts.Keyring, keys)
	if err != nil {
		return err
	}
	if current == "" {
		return fmt.Errorf("the store's data keys are gone")
	}
	s.sealer.set(aeads, current)
	return nil
}

// refresh reloads the data keys when the last look is older than Refresh;
// a failure is logged and the keys in hand stay.
func (s *Store) refresh(ctx context.Context) {
	s.mu.Lock()
	due := s.opts.Now().Sub(s.refreshed) >= s.opts.Refresh
	if due {
		s.refreshed = s.opts.Now()
	}
	s.mu.Unlock()
	if !due {
		return
	}
	before := s.sealer.Current()
	if err := s.reload(ctx); err != nil {
		s.opts.Logger.Warn("reload data keys; sealing with the current one", "data_key", before, "error", err)
		return
	}
	if now := s.sealer.Current(); now != before {
		s.opts.Logger.Info("sealing with a new data key", "data_key", now, "previous", before)
	}
}

// open opens a payload; a value under a data key not yet known reloads the
// keys once.
func (s *Store) open(ctx context.Context, table store.PayloadTable, key string, v []byte) ([]byte, error) {
	out, err := s.sealer.Open(table, key, v)
	if errors.Is(err, ErrUnknownKey) {
		if rerr := s.reload(ctx); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		out, err = s.sealer.Open(table, key, v)
	}
	return out, err
}

// InsertEvents seals the events' payloads.
func (s *Store) InsertEvents(ctx context.Context, in []store.Event) ([]bool, error) {
	s.refresh(ctx)
	sealed := make([]store.Event, len(in))
	for i, e := range in {
		p, err := s.sealer.Seal(store.PayloadEvents, e.EventID, e.Payload)
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
		e.Payload = p
		sealed[i] = e
	}
	return s.inner.InsertEvents(ctx, sealed)
}

// IngestEvents seals the events' payloads.
func (s *Store) IngestEvents(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	s.refresh(ctx)
	sealed := make([]store.IngestEvent, len(in))
	for i, ie := range in {
		p, err := s.sealer.Seal(store.PayloadEvents, ie.Event.EventID, ie.Event.Payload)
		if err != nil {
			return nil, fmt.Errorf("ingest events: %w", err)
		}
		ie.Event.Payload = p
		sealed[i] = ie
	}
	return s.inner.IngestEvents(ctx, sealed)
}

// ListEvents opens the events' payloads.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error) {
	evs, page, err := s.inner.ListEvents(ctx, q)
	if err != nil {
		return nil, "", err
	}
	for i := range evs {
		if evs[i].Payload, err = s.open(ctx, store.PayloadEvents, evs[i].EventID, evs[i].Payload); err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
	}
	return evs, page, nil
}

// CommitSubscriber seals the deliveries' payloads.
func (s *Store) CommitSubscriber(ctx context.Context, c store.SubscriberCommit) error {
	s.refresh(ctx)
	if len(c.Deliveries) > 0 {
		ds := make([]store.OutboxItem, len(c.Deliveries))
		for i, d := range c.Deliveries {
			p, err := s.sealer.Seal(store.PayloadOutbox, d.ID, d.Payload)
			if err != nil {
				return fmt.Errorf("commit subscriber %s: %w", c.Name, err)
			}
			d.Payload = p
			ds[i] = d
		}
		c.Deliveries = ds
	}
	return s.inner.CommitSubscriber(ctx, c)
}

// PendingOutbox opens the items' payloads.
func (s *Store) PendingOutbox(ctx context.Context, q store.OutboxQuery) ([]store.OutboxItem, error) {
	items, err := s.inner.PendingOutbox(ctx, q)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if items[i].Payload, err = s.open(ctx, store.PayloadOutbox, items[i].ID, items[i].Payload); err != nil {
			return nil, fmt.Errorf("pending outbox: %w", err)
		}
	}
	return items, nil
}

// ScanPayloads opens the payloads it reads (erasure matches them).
func (s *Store) ScanPayloads(ctx context.Context, q store.PayloadScan) ([]store.PayloadRow, error) {
	rows, err := s.inner.ScanPayloads(ctx, q)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].Payload, err = s.open(ctx, q.Table, rows[i].Key, rows[i].Payload); err != nil {
			return nil, fmt.Errorf("scan payloads: %w", err)
		}
	}
	return rows, nil
}

// SwapPayloads is refused: the payloads this store shows are opened, the
// stored ones sealed, so a swap through it could not compare them. Keys
// rotate swaps on the store under it (Inner).
func (s *Store) SwapPayloads(context.Context, store.PayloadTable, []store.PayloadSwap) (int, error) {
	return 0, errors.New("swap payloads: not through the sealing store (use seal.Rotate on its Inner store)")
}
