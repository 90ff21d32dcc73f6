package drift

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAckReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    AckReason
		wantErr string
	}{
		{in: "false_positive", want: AckFalsePositive},
		{in: "accepted", want: AckAccepted},
		{in: "fixed_by_hand", want: AckFixedByHand},
		{in: "", wantErr: "an acknowledgement needs a reason: one of false_positive, accepted, fixed_by_hand"},
		{in: "known outage", wantErr: `unknown acknowledgement reason "known outage": want one of false_positive, accepted, fixed_by_hand`},
		{in: "False_Positive", wantErr: "unknown acknowledgement reason"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAckReason(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
