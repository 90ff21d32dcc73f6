// Package dynalitetest runs the DynamoDB store's tests against dynalite
// (npm package dynalite, an implementation of DynamoDB's API on LevelDB,
// kept in memory here): Server starts one per test binary, and TxAPI adds
// the transactions dynalite lacks.
package dynalitetest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is where the tests look for dynalite: $BLACKWELL_DYNALITE, then
// dynalite on PATH, then the copy .ci/run installs under the user's cache
// (CacheDir).
func Binary() (string, error) {
	if p := os.Getenv("BLACKWELL_DYNALITE"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("dynalite"); err == nil {
		return p, nil
	}
	if dir, err := CacheDir(); err == nil {
		p := filepath.Join(dir, "node_modules", ".bin", "dynalite")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("dynalite not found: set BLACKWELL_DYNALITE, put it on PATH, or run .ci/run (npm install --prefix ~/.cache/blackwell/dynalite dynalite)")
}

// CacheDir is where .ci/run installs dynalite: the user's cache directory's
// blackwell/dynalite.
func CacheDir() (string, error) {
	c, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "blackwell", "dynalite"), nil
}

var (
	once     sync.Once
	endpoint string
	startErr error
)

// Endpoint returns the URL of a dynalite started for this test binary
// (left to die with it), or BLACKWELL_TEST_DYNAMODB when set. Without
// dynalite the test is skipped, except under CI=true where that fails it.
func Endpoint(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		// dynalite checks only that requests are signed: test credentials,
		// and no wait on an instance metadata service that is not there.
		for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_EC2_METADATA_DISABLED": "true"} {
			if os.Getenv(k) == "" {
				os.Setenv(k, v)
			}
		}
		if u := os.Getenv("BLACKWELL_TEST_DYNAMODB"); u != "" {
			endpoint = u
			return
		}
		endpoint, startErr = start()
	})
	if startErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dynalite could not start, and under CI=true the DynamoDB tests must run: %v", startErr)
		}
		t.Skipf("dynalite could not start (under CI=true this fails instead): %v", startErr)
	}
	return endpoint
}

// start runs dynalite in memory on a free port and waits until it listens.
func start() (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--host", "127.0.0.1",
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	listening := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				listening <- nil
				break
			}
		}
		listening <- fmt.Errorf("dynalite exited: %v", cmd.Wait())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	select {
	case err := <-listening:
		if err != nil {
			return "", err
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return "", fmt.Errorf("dynalite did not listen on port %d within 60s", port)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port), nil
}
