package stdwebhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// The Standard Webhooks vector (PROVIDERS.md §7, reproduced with the
// reference library).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1674087231
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,AQG81rX2n4rTN1fkXoqILSHO9gAOcwya9dP41rhrQDI="
)

// otherSecret is another valid secret (24 bytes).
const otherSecret = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE="

func vectorHeader() http.Header {
	h := http.Header{}
	h.Set(stdwebhook.HeaderID, vectorID)
	h.Set(stdwebhook.HeaderTimestamp, "1674087231")
	h.Set(stdwebhook.HeaderSignature, vectorSignature)
	return h
}

func TestVector(t *testing.T) {
	t.Parallel()
	sent := time.Unix(vectorTimestamp, 0)
	sig, err := stdwebhook.Sign(vectorSecret, vectorID, sent, []byte(vectorBody))
	require.NoError(t, err)
	require.Equal(t, vectorSignature, sig)
	k, err := stdwebhook.ParseSecret(vectorSecret)
	require.NoError(t, err)
	require.Equal(t, vectorSignature, k.Sign(vectorID, sent, []byte(vectorBody)))

	require.NoError(t, stdwebhook.Verify([]string{vectorSecret}, vectorHeader(), []byte(vectorBody), sent.Add(time.Minute)))
	require.ErrorIs(t, stdwebhook.Verify([]string{vectorSecret}, vectorHeader(), []byte(vectorBody), now), webhook.ErrStale)

	// The prefix is optional, as in the reference libraries.
	require.NoError(t, stdwebhook.Verify([]string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, vectorHeader(), []byte(vectorBody), sent))
}

func TestHeader(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	h, err := stdwebhook.Header(vectorSecret, "msg_1", now, body)
	require.NoError(t, err)
	sig, err := stdwebhook.Sign(vectorSecret, "msg_1", now, body)
	require.NoError(t, err)
	require.Equal(t, http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Id":        {"msg_1"},
		"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
		"Webhook-Signature": {sig},
	}, h)
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		secret string
		want   error
	}{
		{vectorSecret, nil},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", nil},
		{"whsec_not base64!", stdwebhook.ErrInvalidSecret},
		{"bad secret", stdwebhook.ErrInvalidSecret},
		{"whsec_", stdwebhook.ErrEmptySecret},
		{"", stdwebhook.ErrEmptySecret},
	} {
		t.Run(c.secret, func(t *testing.T) {
			k, err := stdwebhook.ParseSecret(c.secret)
			if c.want == nil {
				require.NoError(t, err)
				require.Len(t, k, 24)
				return
			}
			// The sentinel itself: its fixed text never holds the secret.
			require.Equal(t, c.want, err)
		})
	}
	_, err := stdwebhook.Sign("bad secret", "msg", now, nil)
	require.ErrorIs(t, err, stdwebhook.ErrInvalidSecret)
	_, err = stdwebhook.Header("bad secret", "msg", now, nil)
	require.ErrorIs(t, err, stdwebhook.ErrInvalidSecret)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_type":"content.updated","content_id":"a"}`)
	h, err := stdwebhook.Header(vectorSecret, "msg_1", now.Add(-time.Second), body)
	require.NoError(t, err)
	other, err := stdwebhook.Sign(otherSecret, "msg_1", now.Add(-time.Second), body)
	require.NoError(t, err)
	stale, err := stdwebhook.Header(vectorSecret, "msg_1", now.Add(-6*time.Minute), body)
	require.NoError(t, err)
	future, err := stdwebhook.Header(vectorSecret, "msg_1", now.Add(6*time.Minute), body)
	require.NoError(t, err)
	for _, c := range []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		want    error
	}{
		{"good", []string{vectorSecret}, h, body, nil},
		{"rotation: secrets", []string{otherSecret, vectorSecret}, h, body, nil},
		{"rotation: the sender signs with both", []string{otherSecret}, with(h, stdwebhook.HeaderSignature, h.Get(stdwebhook.HeaderSignature)+" "+other), body, nil},
		{"unknown versions are skipped", []string{vectorSecret}, with(h, stdwebhook.HeaderSignature, "v1a,abc v2,xyz "+h.Get(stdwebhook.HeaderSignature)), body, nil},
		{"an invalid secret is skipped", []string{"whsec_!!!", vectorSecret}, h, body, nil},
		{"lower-case header names", []string{vectorSecret}, lower(h), body, nil},
		{"wrong secret", []string{otherSecret}, h, body, webhook.ErrBadSignature},
		{"invalid secret only", []string{"not base64!"}, h, body, webhook.ErrBadSignature},
		{"no secret", nil, h, body, webhook.ErrBadSignature},
		{"tampered body", []string{vectorSecret}, h, []byte(`{"event_type":"content.deleted","content_id":"a"}`), webhook.ErrBadSignature},
		{"tampered id", []string{vectorSecret}, with(h, stdwebhook.HeaderID, "msg_2"), body, webhook.ErrBadSignature},
		{"tampered timestamp", []string{vectorSecret}, with(h, stdwebhook.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)), body, webhook.ErrBadSignature},
		{"stale", []string{vectorSecret}, stale, body, webhook.ErrStale},
		{"future", []string{vectorSecret}, future, body, webhook.ErrStale},
		{"missing signature", []string{vectorSecret}, with(h, stdwebhook.HeaderSignature, ""), body, webhook.ErrMissingSignature},
		{"missing id", []string{vectorSecret}, with(h, stdwebhook.HeaderID, ""), body, webhook.ErrMalformed},
		{"missing timestamp", []string{vectorSecret}, with(h, stdwebhook.HeaderTimestamp, ""), body, webhook.ErrMalformed},
		{"timestamp in ms", []string{vectorSecret}, with(h, stdwebhook.HeaderTimestamp, strconv.FormatInt(now.UnixMilli(), 10)), body, webhook.ErrStale},
		{"timestamp not a number", []string{vectorSecret}, with(h, stdwebhook.HeaderTimestamp, "yesterday"), body, webhook.ErrMalformed},
		{"no v1 signature", []string{vectorSecret}, with(h, stdwebhook.HeaderSignature, "v1a,abc"), body, webhook.ErrMalformed},
		{"a v1 signature of the wrong size", []string{vectorSecret}, with(h, stdwebhook.HeaderSignature, "v1,AAAA"), body, webhook.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := stdwebhook.Verify(c.secrets, c.header, c.body, now)
			if c.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.want)
			}
		})
	}
}

func with(h http.Header, k, v string) http.Header {
	h = h.Clone()
	if v == "" {
		h.Del(k)
	} else {
		h.Set(k, v)
	}
	return h
}

// lower is h with its names written in lower case, as a sender using
// HTTP/2 or a raw map would; http.Header.Get canonicalises on read only.
func lower(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		out.Set(k, v[0])
	}
	return out
}

// FuzzVerify feeds Verify arbitrary signature lists, ids, timestamps and
// bodies: no panics, garbage verifies only when it holds the signature (an
// HMAC computed here, independently), and a message signed with a secret
// verifies with a list holding it.
func FuzzVerify(f *testing.F) {
	f.Add(vectorSignature, vectorID, "1674087231", vectorBody)
	f.Add("v1,AAAA v1a,x", "msg", "1764072000", `{"event_type":"content.updated","content_id":"a"}`)
	f.Add("", "", "", `{}`)
	f.Add("v1,", "m m", "-1", "")
	f.Add("v1,"+vectorSignature+"   v1,x,y", "msg_1", "99999999999999999999", "\x00")
	f.Fuzz(func(t *testing.T, sigs, id, ts, body string) {
		h := http.Header{}
		h.Set(stdwebhook.HeaderID, id)
		h.Set(stdwebhook.HeaderTimestamp, ts)
		h.Set(stdwebhook.HeaderSignature, sigs)
		if err := stdwebhook.Verify([]string{otherSecret, vectorSecret}, h, []byte(body), now); err == nil {
			key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(vectorSecret, "whsec_"))
			m := hmac.New(sha256.New, key)
			m.Write([]byte(id + "." + ts + "." + body))
			if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); !slices.Contains(strings.Fields(sigs), want) {
				t.Fatalf("verified %q, which does not hold the signature", sigs)
			}
		}
		signed, err := stdwebhook.Header(vectorSecret, id, now, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		err = stdwebhook.Verify([]string{otherSecret, vectorSecret}, signed, []byte(body), now)
		if id == "" && !errors.Is(err, webhook.ErrMalformed) || id != "" && err != nil {
			t.Fatalf("a signed message with id %q: %v", id, err)
		}
	})
}
