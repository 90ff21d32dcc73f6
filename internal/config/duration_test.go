package config

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "30s", want: 30 * time.Second},
		{in: "5m", want: 5 * time.Minute},
		{in: "300s", want: 5 * time.Minute},
		{in: "2h", want: 2 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "2w", want: 14 * 24 * time.Hour},
		{in: "1w1d1h1m1s", want: 8*24*time.Hour + time.Hour + time.Minute + time.Second},
		{in: "", wantErr: "empty duration"},
		{in: "-5m", wantErr: `duration "-5m" must not be negative`},
		{in: "5", wantErr: `invalid duration "5"`},
		{in: "m", wantErr: `invalid duration "m"`},
		{in: "5y", wantErr: `invalid duration "5y"`},
		{in: "5 m", wantErr: `invalid duration "5 m"`},
		{in: "1..5h", wantErr: `invalid duration "1..5h"`},
		{in: "1000000w", wantErr: `duration "1000000w" is too long`},
		{in: "106751d106751d", wantErr: `duration "106751d106751d" is too long`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got.D())
		})
	}
}

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	five, err := json.Marshal(Duration(5 * time.Minute))
	require.NoError(t, err)
	require.Equal(t, `"5m0s"`, string(five))

	for _, in := range []string{`"5m"`, `"300s"`, `"5m0s"`} {
		var d Duration
		require.NoError(t, json.Unmarshal([]byte(in), &d), in)
		out, err := json.Marshal(d)
		require.NoError(t, err)
		require.Equal(t, string(five), string(out), in)
	}

	var month Duration
	require.NoError(t, json.Unmarshal([]byte(`"30d"`), &month))
	require.Equal(t, Duration(720*time.Hour), month)
	b, err := json.Marshal(month)
	require.NoError(t, err)
	var back Duration
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, month, back)

	var zero Duration
	require.NoError(t, json.Unmarshal([]byte(`null`), &zero))
	require.NoError(t, json.Unmarshal([]byte(`0`), &zero))
	require.Zero(t, zero)
	require.ErrorContains(t, json.Unmarshal([]byte(`300`), &zero), "must be a string")
	require.ErrorContains(t, json.Unmarshal([]byte(`"5x"`), &zero), `invalid duration "5x"`)
}

func TestDurationYAML(t *testing.T) {
	t.Parallel()
	var v struct {
		A Duration `yaml:"a"`
		B Duration `yaml:"b"`
		C Duration `yaml:"c"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("a: 5m\nb: 2w\nc: 0\n"), &v))
	require.Equal(t, Duration(5*time.Minute), v.A)
	require.Equal(t, Duration(14*24*time.Hour), v.B)
	require.Zero(t, v.C)
	require.Error(t, yaml.Unmarshal([]byte("a: 5\n"), &v))

	out, err := yaml.Marshal(v)
	require.NoError(t, err)
	require.Equal(t, "a: 5m0s\nb: 336h0m0s\nc: 0s\n", string(out))
}
