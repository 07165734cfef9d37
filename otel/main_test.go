package eventstoreotel_test

import (
	"os"
	"testing"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dynamotest.Stop()
	snstest.Stop()
	os.Exit(code)
}
