//go:build race

package workload_test

// raceEnabled: the race detector adds allocations and makes sync.Pool
// drop a quarter of what it is given, so counts are not deterministic.
const raceEnabled = true
