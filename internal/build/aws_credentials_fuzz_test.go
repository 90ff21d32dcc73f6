package build

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSharedCredentials: any credentials file is read without a panic,
// and a profile is returned only with both keys.
func FuzzReadSharedCredentials(f *testing.F) {
	f.Add("[default]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\n")
	f.Add("[ci]\naws_access_key_id=A\n; comment\naws_secret_access_key=B\naws_session_token=C\n")
	f.Add("[default\naws_access_key_id")
	f.Add("")
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, profile := range []string{"default", "ci"} {
			c, err := readSharedCredentials(path, profile)
			if err == nil && (c.AccessKeyID == "" || c.SecretAccessKey == "") {
				t.Fatalf("profile %s returned without keys", profile)
			}
		}
	})
}
