package seal

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// RotateOptions configure Rotate.
type RotateOptions struct {
	// Batch is how many rows are read and re-sealed per transaction
	// (default 500, at most store.MaxLimit).
	Batch  int
	Now    func() time.Time
	Logger *slog.Logger
}

// RotateReport says what Rotate did.
type RotateReport struct {
	// DataKey is the new current data key, wrapped by KEK.
	DataKey string `json:"data_key"`
	KEK     string `json:"kek"`
	// Rewrapped counts the older data keys wrapped again by KEK.
	Rewrapped int `json:"rewrapped"`
	// Events and Outbox count the rows re-sealed under DataKey (rows not
	// sealed before, written before sealing was on, included).
	Events int `json:"events"`
	Outbox int `json:"outbox"`
	// Skipped counts rows that changed or went while they were re-sealed
	// (a concurrent erasure or delivery): left as they were.
	Skipped int `json:"skipped"`
}

// Rotate makes a new data key wrapped by the keyring's current KEK, wraps
// every older data key again with that KEK (after which the other KEKs may
// leave the key file), and re-seals every event and outbox payload under
// the new key in batches of opts.Batch, each a compare-and-swap, so
// servers may keep writing: a row they write meanwhile under an older key
// stays readable (older data keys are kept) and a second run re-seals it.
// Servers seal with the new key from their next refresh (Options.Refresh).
// st is the store itself, not a sealing Store.
func Rotate(ctx context.Context, st store.Store, kr *Keyring, opts RotateOptions) (RotateReport, error) {
	if _, ok := st.(*Store); ok {
		return RotateReport{}, fmt.Errorf("rotate: give the store itself, not its sealing view")
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	opts.Batch = min(opts.Batch, store.MaxLimit)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	keys, err := st.DataKeys(ctx)
	if err != nil {
		return RotateReport{}, fmt.Errorf("read data keys: %w", err)
	}
	aeads, raws, _, err := unwrapAll(kr, keys)
	if err != nil {
		return RotateReport{}, err
	}
	dk, aead, err := newDataKey(kr, opts.Now())
	if err != nil {
		return RotateReport{}, err
	}
	put := []store.DataKey{dk}
	rep := RotateReport{DataKey: dk.ID, KEK: dk.KEKID}
	for _, old := range keys {
		if old.KEKID == kr.Current() {
			continue
		}
		w, err := wrap(kr, old.ID, raws[old.ID], old.CreatedAt)
		if err != nil {
			return RotateReport{}, err
		}
		put = append(put, w)
		rep.Rewrapped++
	}
	if err := st.PutDataKeys(ctx, put); err != nil {
		return RotateReport{}, fmt.Errorf("store data keys: %w", err)
	}
	opts.Logger.Info("new data key", "data_key", dk.ID, "kek", dk.KEKID, "rewrapped", rep.Rewrapped)
	aeads[dk.ID] = aead
	sl := newSealer()
	sl.set(aeads, dk.ID)

	for _, table := range []store.PayloadTable{store.PayloadEvents, store.PayloadOutbox} {
		n, skipped, err := reseal(ctx, st, sl, table, opts)
		rep.Skipped += skipped
		if table == store.PayloadEvents {
			rep.Events = n
		} else {
			rep.Outbox = n
		}
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// reseal re-seals every payload of table that is not sealed with sl's
// current key.
func reseal(ctx context.Context, st store.Store, sl *Sealer, table store.PayloadTable, opts RotateOptions) (done, skipped int, err error) {
	current := sl.Current()
	after := ""
	for {
		rows, err := st.ScanPayloads(ctx, store.PayloadScan{Table: table, After: after, Limit: opts.Batch})
		if err != nil {
			return done, skipped, err
		}
		var swaps []store.PayloadSwap
		for _, r := range rows {
			after = r.Key
			if KeyOf(r.Payload) == current {
				continue
			}
			plain, err := sl.Open(table, r.Key, r.Payload)
			if err != nil {
				return done, skipped, err
			}
			sealed, err := sl.Seal(table, r.Key, plain)
			if err != nil {
				return done, skipped, err
			}
			swaps = append(swaps, store.PayloadSwap{Key: r.Key, Old: r.Payload, New: sealed})
		}
		if len(swaps) > 0 {
			n, err := st.SwapPayloads(ctx, table, swaps)
			if err != nil {
				return done, skipped, err
			}
			done += n
			skipped += len(swaps) - n
			opts.Logger.Info("re-sealed", "table", string(table), "rows", done, "through", after)
		}
		if len(rows) < opts.Batch {
			return done, skipped, nil
		}
	}
}
