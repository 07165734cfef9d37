package projection

import (
	"fmt"
	"testing"
)

// Every live member's share adds up to the partitions, each differing by
// at most one, and a member not yet visible counts itself.
func TestShareOf(t *testing.T) {
	for _, tc := range []struct{ members, partitions int }{{1, 8}, {2, 8}, {3, 8}, {4, 8}, {9, 8}, {3, 1}} {
		live := make([]string, tc.members)
		for i := range live {
			live[i] = fmt.Sprintf("m%02d", i)
		}
		sum, lo, hi := 0, tc.partitions, 0
		for _, m := range live {
			share, first := shareOf(live, m, tc.partitions)
			if first < 0 || first >= tc.partitions {
				t.Errorf("%+v: %s starts at partition %d", tc, m, first)
			}
			sum, lo, hi = sum+share, min(lo, share), max(hi, share)
		}
		if sum != tc.partitions || hi-lo > 1 {
			t.Errorf("%+v: shares sum to %d (want %d), from %d to %d", tc, sum, tc.partitions, lo, hi)
		}
	}
	if share, _ := shareOf([]string{"a", "b"}, "c", 8); share != 2 {
		t.Errorf("a newcomer not yet visible among 2 members of 8 partitions gets %d, want 2 (8/3)", share)
	}
}
