package vitals

import "testing"

func TestRingSlotIsAPermutation(t *testing.T) {
	seen := make([]bool, ringSize)
	for i := range uint64(ringSize) {
		s := slot(i)
		if seen[s] {
			t.Fatalf("slot %d used twice", s)
		}
		seen[s] = true
		if i > 0 && s/8 == slot(i-1)/8 {
			t.Fatalf("samples %d and %d share a cache line", i-1, i)
		}
		if slot(i+ringSize) != s {
			t.Fatalf("slot is not periodic at %d", i)
		}
	}
}
