package erase_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/erase"
)

func TestSubjectMatches(t *testing.T) {
	t.Parallel()
	email := erase.Subject{Values: []string{"Ann@Example.com"}}
	customer := erase.Subject{IDs: []string{"191167"}}
	for _, tc := range []struct {
		name    string
		subject erase.Subject
		payload string
		want    bool
	}{
		{"email anywhere, any case", email, `{"customer":{"email":"ann@example.COM"}}`, true},
		{"email inside a note", email, `{"note":"call ann@example.com tomorrow"}`, true},
		{"email in a list", email, `{"recipients":["x@y.z","ann@example.com"]}`, true},
		{"another email", email, `{"email":"bob@example.com"}`, false},
		{"not JSON, as text", email, `ann@example.com`, true},
		{"no payload", email, ``, false},
		{"customer id under customer", customer, `{"id":1,"customer":{"id":191167}}`, true},
		{"customer id as a string", customer, `{"customer":{"id":"191167"}}`, true},
		{"customer_id key", customer, `{"customer_id":191167}`, true},
		{"gid", customer, `{"admin_graphql_api_id":"gid://shopify/Customer/191167"}`, true},
		{"order ids to redact", erase.Subject{IDs: []string{"299938"}}, `{"orders_to_redact":[280263,299938]}`, true},
		{"the id under another key is not an id", customer, `{"quantity":191167,"price":"191167"}`, false},
		{"a longer id does not match", customer, `{"id":1911670}`, false},
		{"empty subject matches nothing", erase.Subject{}, `{"id":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.subject.Matches([]byte(tc.payload)))
		})
	}
	require.True(t, customer.MatchesID("191167"))
	require.True(t, customer.MatchesID("gid://shopify/Customer/191167"))
	require.False(t, customer.MatchesID("gid://shopify/Customer/1191167"))
	require.False(t, customer.MatchesID(""))
}

func TestSubjectOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want erase.Subject
	}{
		{nil, erase.Subject{}},
		{[]string{" ", ""}, erase.Subject{}},
		{[]string{"Ann@Example.com ", "820982911946154508", "gid://shopify/Customer/1"},
			erase.Subject{Values: []string{"Ann@Example.com"}, IDs: []string{"820982911946154508", "gid://shopify/Customer/1"}}},
	} {
		require.Equal(t, tc.want, erase.SubjectOf(tc.in), "%q", tc.in)
	}
}
