package eventstore_test

import (
	"os"
	"testing"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// TestMain stops the emulators the tests started: DynamoDB Local, and
// fauxqs for the S3 of the offload tests. With EVENTSTORE_TEST_WRITER=1
// the binary is a writer process of TestSkewedWriterProcesses instead.
func TestMain(m *testing.M) {
	if os.Getenv(envWriter) == "1" { // a writer process of TestSkewedWriterProcesses
		os.Exit(writerMain())
	}
	code := m.Run()
	snstest.Stop()
	dynamotest.Stop()
	os.Exit(code)
}
