package benchmarks

import (
	"os"
	"testing"

	"github.com/dynacommit/eventstore/dynamotest"
)

// TestMain stops the DynamoDB Local that the benchmarks started.
func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }
