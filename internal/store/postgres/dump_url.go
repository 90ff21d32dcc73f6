package postgres

import (
	"net/url"
	"slices"
	"sort"
)

// libpqParams are the URI query parameters libpq (and so pg_dump and
// pg_restore) accepts; it refuses any other ("invalid URI query
// parameter"), such as pgx's pool_max_conns.
var libpqParams = []string{
	"application_name", "channel_binding", "connect_timeout", "dbname", "gssencmode",
	"host", "hostaddr", "keepalives", "keepalives_count", "keepalives_idle",
	"keepalives_interval", "load_balance_hosts", "options", "passfile", "password",
	"port", "require_auth", "service", "sslcert", "sslcrl", "sslkey", "sslmode",
	"sslnegotiation", "sslpassword", "sslrootcert", "target_session_attrs", "user",
}

// DumpURL turns a store URL into one that pg_dump and pg_restore accept:
// the parameters only this program reads (pool_max_conns,
// statement_timeout, ...) are dropped and returned, sorted, and the
// password is replaced by "xxxxx" (pass it in PGPASSWORD or ~/.pgpass) so
// that the printed command holds no secret. A URL that does not parse is
// returned as "$BLACKWELL_STORE".
func DumpURL(connString string) (dump string, dropped []string) {
	u, err := url.Parse(connString)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "$BLACKWELL_STORE", nil
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(libpqParams, k) {
			dropped = append(dropped, k)
			q.Del(k)
		}
	}
	sort.Strings(dropped)
	u.RawQuery = q.Encode()
	return u.String(), dropped
}
