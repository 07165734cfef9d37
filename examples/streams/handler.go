package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"

	"github.com/dynacommit/eventstore"
)

// StreamEvent is the event a Lambda function receives from a DynamoDB
// stream, as much of it as the handler reads. (aws-lambda-go's
// events.DynamoDBEvent has the same JSON form.)
type StreamEvent struct {
	Records []StreamRecord `json:"Records"`
}

// StreamRecord is one change of the table.
type StreamRecord struct {
	EventID   string `json:"eventID"`
	EventName string `json:"eventName"` // INSERT, MODIFY or REMOVE
	DynamoDB  struct {
		// NewImage is the item after the change, in DynamoDB's JSON form;
		// absent for REMOVE.
		NewImage       json.RawMessage `json:"NewImage,omitempty"`
		SequenceNumber string          `json:"SequenceNumber"`
		StreamViewType string          `json:"StreamViewType,omitempty"`
	} `json:"dynamodb"`
}

// BatchResponse reports the first record that failed, so that Lambda
// retries the batch from it on (the event source mapping needs
// FunctionResponseTypes: ReportBatchItemFailures).
type BatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names a failed record by its sequence number.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// Handler projects the commits of the store's stream. Its Handle method
// has the signature aws-lambda-go's lambda.Start takes.
type Handler struct {
	// Project is called once per commit, in stream order (which keeps
	// each aggregate's order). Streams deliver at least once: Project must
	// be idempotent, for instance by keeping the last version it applied
	// per aggregate.
	Project func(ctx context.Context, c eventstore.Commit) error
}

// Handle projects the commits of a batch in order. Records that are not
// commits are skipped: REMOVE (TTL expiry), the table's metadata item,
// MODIFY (commits are never modified). At the first commit that does not
// decode or that Project fails on, it stops and reports that record, so
// that Lambda retries from it without reordering; a record that never
// succeeds goes, after the mapping's MaximumRetryAttempts, to its
// on-failure destination.
func (h Handler) Handle(ctx context.Context, ev StreamEvent) (BatchResponse, error) {
	for _, r := range ev.Records {
		if r.EventName != "INSERT" {
			continue
		}
		c, err := eventstore.ParseImageJSON(r.DynamoDB.NewImage)
		if errors.Is(err, eventstore.ErrNotCommit) {
			continue
		}
		if err == nil {
			err = h.Project(ctx, c)
		}
		if err != nil {
			log.Printf("record %s: %v", r.DynamoDB.SequenceNumber, err)
			return BatchResponse{BatchItemFailures: []BatchItemFailure{{ItemIdentifier: r.DynamoDB.SequenceNumber}}}, nil
		}
	}
	return BatchResponse{}, nil
}
