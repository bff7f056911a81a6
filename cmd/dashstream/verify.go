package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

func runVerify(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("dashstream verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var rf readFlags
	rf.register(fs, true, false)
	expectFile := fs.String("expect", "", "JSON file {thread_id: state}: each thread's replayed final state must equal it")
	wait := durationFlag{d: 60 * time.Second}
	fs.Var(&wait, "wait", "with --expect: keep reading past the end until the expected states are reached, at most this long")
	wantThreads := fs.Int("expect-threads", 0, "the selected threads must number exactly this many (0 = any)")
	strict := fs.Bool("strict", false, "treat gaps and duplicates, and runs open longer than --max-open-age, as problems too")
	maxOpenAge := durationFlag{d: defaultMaxOpenAge}
	fs.Var(&maxOpenAge, "max-open-age", "with --strict: a run that started this long ago and never ended fails verification")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	st, err := rf.style(e.stdoutTTY, e.noColor)
	if err != nil {
		return err
	}
	var expect map[string]any
	if *expectFile != "" {
		if expect, err = loadExpectations(*expectFile); err != nil {
			return usageError{err}
		}
	}
	v, err := newVerifier(rf.threads)
	if err != nil {
		return err
	}
	client, err := connect(&rf.kafka)
	if err != nil {
		return err
	}
	defer client.Close()

	opts := consumeOptions{
		FromBeginning: rf.fromBeginning,
		Follow:        rf.follow,
		Idle:          rf.idle.d,
		OnError:       func(err error) { fmt.Fprintln(e.stderr, "dashstream verify:", err) },
	}
	if expect != nil {
		opts.Until = func() bool { return v.expectationsMet(expect) }
		opts.Wait = wait.d
	}
	progress := e.stderrTTY
	if progress {
		opts.Progress = func(done, total int64) {
			fmt.Fprintf(e.stderr, "\rreading %s: %d/%d record(s)\x1b[K", rf.kafka.topic, done, total)
		}
	}
	res, err := consumeTopic(ctx, client, rf.kafka.topic, opts, v.add)
	if progress {
		fmt.Fprint(e.stderr, "\r\x1b[K")
	}
	if err != nil {
		return err
	}
	r := buildReport(v, expect)
	r.Topic, r.Partitions = rf.kafka.topic, res.Partitions
	r.ExpectFile, r.WantThreads, r.Strict, r.TimedOut = *expectFile, *wantThreads, *strict, res.TimedOut
	r.MaxOpenAge = maxOpenAge.d
	r.Interrupted = ctx.Err() != nil
	r.write(e.stdout, st)
	if !r.ok() {
		return errInconsistent
	}
	return nil
}

// loadExpectations reads the expected final states, with the protocol's
// JSON model (numbers kept exact) so comparisons match the replayer's. Two
// layouts are accepted: {thread_id: state}, and the examples' record
// {"threads": [{"thread_id": …, "final_state": …}, …]} (other keys ignored).
func loadExpectations(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--expect: %w", err)
	}
	v, err := dashstream.ParseJSON(b)
	if err != nil {
		return nil, fmt.Errorf("--expect %s: %w", path, err)
	}
	obj, ok := v.(*dashstream.Object)
	if !ok {
		return nil, fmt.Errorf("--expect %s: want a JSON object", path)
	}
	if list, ok := obj.Get("threads"); ok {
		if threads, isList := list.([]any); isList {
			return expectationsFromList(path, threads)
		}
	}
	out := make(map[string]any, obj.Len())
	for i := 0; i < obj.Len(); i++ {
		out[obj.Key(i)] = obj.Value(i)
	}
	return out, nil
}

func expectationsFromList(path string, threads []any) (map[string]any, error) {
	out := make(map[string]any, len(threads))
	for i, t := range threads {
		o, ok := t.(*dashstream.Object)
		if !ok {
			return nil, fmt.Errorf("--expect %s: threads[%d] is not an object", path, i)
		}
		id, _ := o.Get("thread_id")
		ids, isString := id.(string)
		state, hasState := o.Get("final_state")
		if !isString || ids == "" || !hasState {
			return nil, fmt.Errorf("--expect %s: threads[%d] needs a thread_id string and a final_state", path, i)
		}
		out[ids] = state
	}
	return out, nil
}
