//go:build !linux

package snstest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
