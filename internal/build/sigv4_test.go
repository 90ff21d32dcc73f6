package build

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Vectors of AWS's Signature Version 4 test suite (aws-sig-v4-test-suite:
// get-vanilla, post-vanilla, get-vanilla-query-order-key-case), with its
// credentials and date.
func TestSignV4MatchesTheAWSTestSuite(t *testing.T) {
	t.Parallel()
	creds := AWSCredentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	when := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	scope := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	for _, tc := range []struct{ name, method, url, sig string }{
		{"get-vanilla", "GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", "POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"get-vanilla-query-order-key-case", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, tc.url, nil)
			require.NoError(t, err)
			signV4(req, nil, creds, "us-east-1", "service", when)
			require.Equal(t, "20150830T123600Z", req.Header.Get("X-Amz-Date"))
			require.Equal(t, scope+tc.sig, req.Header.Get("Authorization"))
		})
	}
}

func TestSignV4SignsTheSessionToken(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest("POST", "https://codebuild.eu-west-1.amazonaws.com/", nil)
	require.NoError(t, err)
	signV4(req, []byte("{}"), AWSCredentials{AccessKeyID: "A", SecretAccessKey: "S", SessionToken: "T"}, "eu-west-1", "codebuild", time.Now())
	require.Equal(t, "T", req.Header.Get("X-Amz-Security-Token"))
	require.Contains(t, req.Header.Get("Authorization"), "SignedHeaders=host;x-amz-date;x-amz-security-token,")
}
