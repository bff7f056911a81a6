// Package dashstream implements the DashStream v1 protocol on its own, without
// Kafka or the collector: the wire schema (package dashstreampb), record
// framing and decoding, the exact JSON value model, the state hash the
// DashFlow UI verifies, RFC 6902 JSON Patch diffs, and a replayer that
// rebuilds and verifies per-thread state from a stream.
//
// Span translation lives in the sub-package translate.
package dashstream
