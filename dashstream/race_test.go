//go:build race

package dashstream

// raceEnabled: the race detector makes sync.Pool drop a quarter of what
// it is given, so reuse counts are not deterministic.
const raceEnabled = true
