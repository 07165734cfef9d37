package eventstore_test

import (
	"os"
	"testing"

	"github.com/dynacommit/eventstore/dynamotest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }
