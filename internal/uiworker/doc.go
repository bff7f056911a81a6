// Package uiworker holds the browser-path check of our records: check.mjs
// decodes DashStream records the way the DashFlow observability UI does in
// its Web Worker (protobufjs, then the structured cloning of postMessage)
// and checks what the page would receive; the Go tests feed it streams the
// translator produces. `dashstream tail --records` prints a topic in the
// same format, so scripts/e2e.sh runs the check on what the collector wrote
// to Kafka.
//
// It needs Node.js and `npm ci` in this directory; the tests skip without
// them unless UIWORKER_REQUIRED=1 (CI sets it). UIWORKER_KEEP=DIR keeps the
// fixture streams it checks in DIR.
package uiworker
