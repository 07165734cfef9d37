package dynamotest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestSkipMessageNamesInstallCommand: outside this repository, with no
// .tools folder, the skip message gives the one command that fixes it.
func TestSkipMessageNamesInstallCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DYNAMODB_LOCAL_JAR", "")
	_, err := command("8000")
	if err == nil || !strings.Contains(err.Error(), `run "go run github.com/dynacommit/eventstore/dynamotest/install"`) {
		t.Errorf("command without a jar: %v, want the install command", err)
	}
}

// TestNewStoreCleanup: NewStore deletes the table it names, and leaves a
// table the caller names, as its doc says.
func TestNewStoreCleanup(t *testing.T) {
	client := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	named := "dynamotest-named-" + time.Now().Format("150405.000000")
	var unnamed []string
	t.Run("inner", func(t *testing.T) {
		NewStore(t, eventstore.Config{Table: named})
		NewStore(t, eventstore.Config{})
		unnamed = tablesOf(ctx, t, client, t.Name())
	})
	if len(unnamed) != 1 {
		t.Fatalf("during the subtest, tables named after it: %q, want one", unnamed)
	}
	if left := tablesOf(ctx, t, client, t.Name()+"/inner"); len(left) != 0 {
		t.Errorf("after the subtest, tables %q are left; NewStore should have deleted its table", left)
	}
	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(named)}); err != nil {
		t.Errorf("the caller's table %s: %v, want it left", named, err)
	}
	client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(named)})
}

func tablesOf(ctx context.Context, t *testing.T, client *dynamodb.Client, testName string) []string {
	t.Helper()
	prefix := strings.ReplaceAll(testName, "/", "-") + "-"
	var names []string
	pages := dynamodb.NewListTablesPaginator(client, &dynamodb.ListTablesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range page.TableNames {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
	}
	return names
}
