//go:build stress

package eventstore_test

// With -tags stress the reliability suite runs past its CI sizes:
//
//	go test -race -tags stress -run 'Linearizable|FaultInjection' -timeout 60m .
func init() {
	linHistories *= 10
	linClients *= 2
	fiAppends *= 10
	fiWriters *= 2
	fiAggregates *= 5
}
