package build

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AWSCredentialSource resolves AWS credentials the way the AWS CLI and SDKs
// start their default chain
// (https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html):
// first AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, then
// the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
// ~/.aws/credentials) at profile AWS_PROFILE (default "default"). SSO,
// assumed roles, container and instance credentials are not read.
type AWSCredentialSource struct {
	// Getenv reads the environment (default os.LookupEnv).
	Getenv func(string) (string, bool)
	// HomeDir is the home directory for ~/.aws (default os.UserHomeDir).
	HomeDir string
}

// Credentials returns the first credentials found.
func (s AWSCredentialSource) Credentials() (AWSCredentials, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
	if id, secret := env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return AWSCredentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: env("AWS_SESSION_TOKEN")}, nil
	}
	path := env("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		home := s.HomeDir
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return AWSCredentials{}, errors.New("no AWS credentials: AWS_ACCESS_KEY_ID is unset and there is no home directory")
			}
			home = h
		}
		path = filepath.Join(home, ".aws", "credentials")
	}
	profile := env("AWS_PROFILE")
	if profile == "" {
		profile = "default"
	}
	creds, err := readSharedCredentials(path, profile)
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("no AWS credentials: AWS_ACCESS_KEY_ID is unset and %w", err)
	}
	return creds, nil
}

// readSharedCredentials reads a profile of the INI credentials file.
func readSharedCredentials(path, profile string) (AWSCredentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("the shared credentials file cannot be read: %w", err)
	}
	defer f.Close()
	var creds AWSCredentials
	section := ""
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			found = found || section == profile
			continue
		}
		if section != profile {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			creds.AccessKeyID = v
		case "aws_secret_access_key":
			creds.SecretAccessKey = v
		case "aws_session_token":
			creds.SessionToken = v
		}
	}
	if err := sc.Err(); err != nil {
		return AWSCredentials{}, fmt.Errorf("read %s: %w", path, err)
	}
	if !found || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return AWSCredentials{}, fmt.Errorf("profile %q of %s has no aws_access_key_id and aws_secret_access_key", profile, path)
	}
	return creds, nil
}
