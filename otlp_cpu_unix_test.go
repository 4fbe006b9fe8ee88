//go:build unix

package vitals

import "syscall"

// processCPU returns the CPU time this process has used, user and system,
// in nanoseconds: what a benchmark costs whatever else the box runs.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
