package main

import (
	"fmt"
	"time"
)

// durationFlag is a non-negative duration flag.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string {
	if f == nil || f.d == 0 {
		return "0s"
	}
	return f.d.String()
}

func (f *durationFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("duration %q: %w", v, err)
	}
	if d < 0 {
		return fmt.Errorf("duration %q is negative", v)
	}
	f.d = d
	return nil
}
