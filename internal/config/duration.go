package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Duration units beyond time.ParseDuration's.
const (
	day  = 24 * time.Hour
	week = 7 * day
)

// ParseDuration parses a non-negative duration: a sequence of decimal numbers,
// each with a unit, as time.ParseDuration accepts ("300ms", "1h30m"), plus
// the units d (24h) and w (7d): "30d", "2w", "1d12h". "0" is zero.
func ParseDuration(s string) (Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	bad := func() (Duration, error) {
		return 0, fmt.Errorf("invalid duration %q (want a number and a unit, one of ns, us, ms, s, m, h, d, w; for example 30s, 5m, 1h30m, 30d)", s)
	}
	var total time.Duration
	rest := s
	for rest != "" {
		// number
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		num := rest[:i]
		if num == "" || num == "." || strings.Count(num, ".") > 1 {
			return bad()
		}
		// unit
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		unit := rest[i:j]
		rest = rest[j:]
		factor := time.Duration(1)
		switch unit {
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		case "d":
			unit, factor = "h", 24
		case "w":
			unit, factor = "h", 24*7
		default:
			return bad()
		}
		part, err := time.ParseDuration(num + unit)
		if err != nil {
			return bad()
		}
		if part > math.MaxInt64/factor {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		part *= factor
		if total > math.MaxInt64-part {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += part
	}
	return Duration(total), nil
}

// String is the canonical form: time.Duration's ("5m0s", "720h0m0s"), which
// time.ParseDuration and ParseDuration both read back.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the canonical string, so that "5m" and "300s" are
// written alike.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string; 0 and null are zero.
func (d *Duration) UnmarshalJSON(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "null", "0":
		*d = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("duration must be a string such as 30s, 5m or 30d")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the canonical string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string; 0 is zero.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*d = 0
		return nil
	case string:
		p, err := ParseDuration(x)
		if err != nil {
			return err
		}
		*d = p
		return nil
	case int, int64, uint64:
		if fmt.Sprint(x) == "0" {
			*d = 0
			return nil
		}
	}
	return errors.New("duration must be a string such as 30s, 5m or 30d")
}
