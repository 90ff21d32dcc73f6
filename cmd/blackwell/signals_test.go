package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
)

// TestServeBinaryReloadsOnSIGHUPAndStopsOnSIGTERM runs the real binary:
// SIGHUP applies a changed config file, SIGTERM stops it cleanly.
func TestServeBinaryReloadsOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "blackwell")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(e2eConfig(site.URL(), "")), 0o600))

	bootstrapFile := filepath.Join(dir, "bootstrap.token")
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "blackwell.db"), "--bootstrap-token-file", bootstrapFile)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// The JSON log names the address; keep reading the log in the background.
	addrc := make(chan string, 1)
	logs := make(chan string, 100000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "blackwell serving" {
				addrc <- line.Listen
			}
			select {
			case logs <- sc.Text():
			default:
			}
		}
		close(logs)
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	tok, err := os.ReadFile(bootstrapFile)
	require.NoError(t, err, "serve wrote the bootstrap token")
	e := &e2e{base: base, token: strings.TrimSpace(string(tok))}
	var rec struct {
		StateVersion string `json:"state_version"`
	}
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.0.0", rec.StateVersion)

	changed := e2eConfig(site.URL(), "\n    port: {probe: tcp, address: \""+site.Addr()+"\"}")
	require.NoError(t, os.WriteFile(cfgPath, []byte(changed), 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	poll.Until(t, time.Minute, "SIGHUP applied the new version", func() bool {
		e.getJSON(t, "/v1/stacks/acme/web", &rec)
		return rec.StateVersion == "v1.1.0"
	})

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	// Read the log to its end (the process closed stderr) before Wait,
	// which closes the pipe and could lose the last lines.
	stopped := false
	deadline := time.After(15 * time.Second)
	for reading := true; reading; {
		select {
		case l, ok := <-logs:
			reading = ok
			stopped = stopped || strings.Contains(l, `"msg":"blackwell stopped"`)
		case <-deadline:
			t.Fatal("serve did not stop within 15s of SIGTERM")
		}
	}
	require.NoError(t, cmd.Wait(), "SIGTERM is a clean exit")
	require.True(t, stopped, "logs the stop")
}
