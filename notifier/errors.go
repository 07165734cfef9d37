package notifier

import "errors"

// Errors returned by the notifier package. Match them with errors.Is: they
// are wrapped with the detail (which ARN, which relay).
var (
	// ErrInvalidTopicARN reports a topic ARN that is not an SNS topic ARN
	// (arn:PARTITION:sns:REGION:ACCOUNT:NAME, NAME of 1 to 256 letters,
	// digits, hyphens and underscores, plus ".fifo" for a FIFO topic).
	ErrInvalidTopicARN = errors.New("notifier: invalid SNS topic ARN")
	// ErrInvalidEnvelope reports a message body that is not a commit
	// envelope (see Envelope).
	ErrInvalidEnvelope = errors.New("notifier: not a commit envelope")
	// ErrLeaseLost reports that another relay took over a relay's
	// checkpoint, because this one had not renewed its lease in time. The
	// relay stops publishing and stands by; nothing is lost, and the
	// commits it published after its last checkpoint are published again
	// by the new holder.
	ErrLeaseLost = errors.New("notifier: relay lease lost to another relay")
	// ErrCorruptCheckpoint reports a checkpoint item that does not hold a
	// valid checkpoint; the relay refuses to guess where to resume.
	ErrCorruptCheckpoint = errors.New("notifier: corrupt relay checkpoint")
)
