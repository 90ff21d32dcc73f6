-- 0015_holds (as SQLite's): a stack's hold (store.Hold, JSON; '' for
-- none), set by a rollback with a hold (rollback --hold): until it ends,
-- applying a config (at start, on SIGHUP, through the API) leaves the
-- stack's desired state as it is. Written by ApplyDesired and Unpin only;
-- a pass keeps it.
ALTER TABLE states ADD COLUMN hold text NOT NULL DEFAULT '';
