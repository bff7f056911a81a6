// Command loadgen drives an OTLP/gRPC traces endpoint with pre-built
// requests: each generation of graph-shaped (or plain) runs is marshaled
// once, and sending only copies the bytes and patches ids and timestamps.
// It prints one JSON object with what it sent and its own CPU use, so the
// harness can show the generator is not the bottleneck.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	endpoint    string
	duration    time.Duration
	rate        float64
	concurrency int
	timeout     time.Duration
	workload    workload.Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{workload: workload.DefaultConfig()}
	w := &o.workload
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.endpoint, "endpoint", "127.0.0.1:4317", "OTLP/gRPC endpoint (host:port, plaintext)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long to start new generations; the current ones finish")
	fs.Float64Var(&o.rate, "rate", 0, "spans per second over all workers; 0 sends as fast as the collector accepts")
	fs.IntVar(&o.concurrency, "concurrency", 4, "workers, each with its own connection and its own runs in order")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of one export call")
	fs.StringVar(&w.Kind, "kind", w.Kind, "graph (dashstream.* keys and state) or plain (no graph attributes)")
	fs.StringVar(&w.Pattern, "pattern", w.Pattern, "state change per node: append (to a message list) or field (one field replaced)")
	fs.IntVar(&w.Threads, "threads", w.Threads, "runs (threads) per generation = spans per request")
	fs.IntVar(&w.Nodes, "nodes", w.Nodes, "node steps per run")
	fs.IntVar(&w.StateBytes, "state-bytes", w.StateBytes, "size of the state's fixed text")
	fs.IntVar(&w.MessageBytes, "message-bytes", w.MessageBytes, "size of each appended message or replaced field value")
	fs.DurationVar(&w.NodeDuration, "node-duration", w.NodeDuration, "duration of each node span")
	fs.Uint64Var(&w.Seed, "seed", w.Seed, "seed of the generated text")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var errs []error
	if o.duration <= 0 {
		errs = append(errs, fmt.Errorf("-duration must be positive, got %s", o.duration))
	}
	if o.rate < 0 {
		errs = append(errs, fmt.Errorf("-rate must not be negative, got %g", o.rate))
	}
	if o.concurrency < 1 || o.concurrency > 256 {
		errs = append(errs, fmt.Errorf("-concurrency must be 1..256, got %d", o.concurrency))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be positive, got %s", o.timeout))
	}
	if err := w.Validate(); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tpl, err := workload.Build(o.workload)
	if err != nil {
		return err
	}
	res, err := drive(ctx, o, tpl)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	if res.SpansOK == 0 {
		return fmt.Errorf("no span was accepted (first error: %s)", res.FirstError)
	}
	return nil
}
