//go:build !linux

package main

// childCPU is not implemented outside Linux: no server CPU is reported.
func childCPU(string) func() float64 { return nil }

// machineBusy is not measured outside Linux.
func machineBusy() float64 { return 0 }
