package projection

import "errors"

// Errors of the projection package, matched with errors.Is.
var (
	// ErrLeaseLost is the cause of a partition's term ending because
	// another process took its lease, or an operator reset the consumer:
	// the term's writes are refused by the fencing token.
	ErrLeaseLost = errors.New("projection: partition lease lost")
	// ErrCorruptState wraps a consumer item of the table that does not
	// decode (a checkpoint that is not a CommitID, a wrong attribute type).
	ErrCorruptState = errors.New("projection: corrupt consumer state")
	// ErrPartitionsMismatch is returned by Run when the consumer's stored
	// partition count differs from Config.Partitions: the partitions
	// would not cover the same aggregates. Reset with the new count, or
	// use a new Name.
	ErrPartitionsMismatch = errors.New("projection: partition count differs from the stored one")
	// ErrUnknownConsumer is returned by Admin for a name with no state in
	// the table.
	ErrUnknownConsumer = errors.New("projection: unknown consumer")
	// ErrNotParked is returned by Admin.Retry and Admin.Skip for an
	// aggregate that is not parked.
	ErrNotParked = errors.New("projection: aggregate not parked")
)
