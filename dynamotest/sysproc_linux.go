package dynamotest

import "syscall"

// sysProcAttr kills DynamoDB Local when the test process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
