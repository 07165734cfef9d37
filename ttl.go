package eventstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// enableTTL turns on Time to Live on the expiresAt attribute when the store
// has a TTL, unless it is on already. A table whose TTL is on another
// attribute is ErrTableMismatch: its commits would never expire.
func (s *Store) enableTTL(ctx context.Context) error {
	if s.cfg.TTL <= 0 {
		return nil
	}
	on, err := s.ttlEnabled(ctx)
	if err != nil || on {
		return err
	}
	_, err = s.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(s.cfg.Table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt), Enabled: aws.Bool(true),
		},
	})
	if err == nil {
		return nil
	}
	// Another store may have enabled it meanwhile ("already enabled").
	if on, again := s.ttlEnabled(ctx); again == nil && on {
		return nil
	}
	return fmt.Errorf("eventstore: enable time to live on table %s: %w", s.cfg.Table, err)
}

// ttlEnabled reports whether TTL is on (or turning on) for expiresAt.
func (s *Store) ttlEnabled(ctx context.Context) (bool, error) {
	out, err := s.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(s.cfg.Table)})
	if err != nil {
		return false, fmt.Errorf("eventstore: describe time to live of table %s: %w", s.cfg.Table, err)
	}
	d := out.TimeToLiveDescription
	if d == nil {
		return false, nil
	}
	switch d.TimeToLiveStatus {
	case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
		if name := aws.ToString(d.AttributeName); name != attrExpiresAt {
			return false, fmt.Errorf("%w: table %s has time to live on %q, the store writes %q",
				ErrTableMismatch, s.cfg.Table, name, attrExpiresAt)
		}
		return true, nil
	}
	return false, nil
}
