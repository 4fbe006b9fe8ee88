package vitals

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// The seed of the randomised tests, so that a failing run can be repeated.

// seedEnv names the variable that sets the seed of the randomised tests.
const seedEnv = "VITALS_SEED"

// randomSeed returns the seed of a randomised test and logs it (shown when
// the test fails, or with -v): the value of VITALS_SEED when it is set,
// to run the test again with the seed a failure logged, or else one drawn
// from the clock.
func randomSeed(t testing.TB) uint64 {
	t.Helper()
	if s := os.Getenv(seedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer: %v", seedEnv, s, err)
		}
		t.Logf("seed %d, from %s", seed, seedEnv)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d: run again with %s=%d", seed, seedEnv, seed)
	return seed
}
