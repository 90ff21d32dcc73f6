package dynamodb

// API is the client the store calls (tests wrap it).
func (s *Store) API() API { return s.api.(counted).API }

// Config is the store's configuration.
func (s *Store) Config() Config { return s.cfg }
