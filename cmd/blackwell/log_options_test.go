package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLogDurationsAreReadable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, logOptions(slog.LevelInfo)))
	log.Info("pass", "duration", 1500*time.Millisecond, slog.Group("http", "took", 230*time.Microsecond), "count", 3)
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, "1.5s", line["duration"])
	require.Equal(t, "230µs", line["http"].(map[string]any)["took"])
	require.Equal(t, float64(3), line["count"], "other values are untouched")
}
