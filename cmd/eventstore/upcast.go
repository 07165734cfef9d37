package main

import "github.com/dynacommit/eventstore"

// upcasters are the Config.Upcasters of the store that cat, log and export
// read through (unless -raw), and schemaVersionKey its
// Config.SchemaVersionKey. The command as shipped has none: upcasters are
// Go functions of a service's own event types, which a generic binary
// cannot know, so its cat, log and export show events as stored. A team
// that wants them to show its current schemas builds the command with one
// more file in this package (see docs/upcasting.md):
//
//	func init() { upcasters = accountevents.Upcasters }
//
// import, stats and verify always read and write what is stored.
var (
	upcasters        []eventstore.Upcaster
	schemaVersionKey string
)
