package main

import "log/slog"

// logOptions are the options of every JSON log handler of the binary:
// level, and durations written as Go duration strings ("1.5s", "230ms")
// rather than slog's default, an integer of nanoseconds that nobody reads
// right (issue 21, item 15).
func logOptions(level slog.Leveler) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsStrings}
}

// durationsAsStrings is a slog ReplaceAttr that writes a time.Duration as
// its String.
func durationsAsStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
