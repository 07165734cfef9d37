//go:build unix

package cpu

import "syscall"

// Self is the CPU time this process has used, user and system, in seconds.
func Self() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
