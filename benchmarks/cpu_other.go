//go:build !unix

package benchmarks

// cpuSeconds is not measured here.
func cpuSeconds() float64 { return 0 }
