//go:build !race

package dashstream

const raceEnabled = false
