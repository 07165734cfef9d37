package benchmarks

import (
	"os"
	"testing"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// TestMain stops the DynamoDB Local and the fauxqs that the benchmarks
// started.
func TestMain(m *testing.M) {
	code := dynamotest.Main(m)
	snstest.Stop()
	os.Exit(code)
}
