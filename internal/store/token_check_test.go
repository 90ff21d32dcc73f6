package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tok     Token
		wantErr string
	}{
		{Token{ID: "t1", SecretHash: "h", Role: RoleViewer}, ""},
		{Token{ID: "t1", SecretHash: "h", Role: RoleAdmin, ClientID: "c"}, ""},
		{Token{SecretHash: "h", Role: RoleViewer}, "token id is required"},
		{Token{ID: "t1", Role: RoleViewer}, "token secret hash is required"},
		{Token{ID: "t1", SecretHash: "h"}, `unknown role ""`},
		{Token{ID: "t1", SecretHash: "h", Role: "root"}, `unknown role "root"`},
		{Token{}, "token id is required"},
	} {
		err := CheckToken(tc.tok)
		if tc.wantErr == "" {
			require.NoError(t, err, "%+v", tc.tok)
			continue
		}
		require.EqualError(t, err, tc.wantErr, "%+v", tc.tok)
	}
}
