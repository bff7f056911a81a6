// Command demo runs a small research-assistant graph (plan → research →
// draft → review → publish, with a conditional branch back to draft) on a
// few threads and exports its spans over OTLP/gRPC with the dashstream.*
// attribute keys, so a collector with the dashstream exporter turns them
// into DashStream streams. It needs no LLM: the model and the search tool
// are deterministic fakes; the graph, its branching and its state are real.
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// options are the demo's command-line settings.
type options struct {
	endpoint     string
	insecure     bool
	threads      int
	runs         int
	threadPrefix string
	latency      time.Duration
	expectFile   string
	timeout      time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:], os.Stderr, time.Now())
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	grpcOpts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.endpoint)}
	if o.insecure {
		grpcOpts = append(grpcOpts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, grpcOpts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: create OTLP exporter:", err)
		os.Exit(1)
	}
	if err := run(ctx, o, exp, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer, now time.Time) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.endpoint, "endpoint", "127.0.0.1:4317", "OTLP/gRPC endpoint of the collector (host:port)")
	fs.BoolVar(&o.insecure, "insecure", true, "plaintext gRPC (no TLS)")
	fs.IntVar(&o.threads, "threads", 2, "number of threads (conversations)")
	fs.IntVar(&o.runs, "runs", 2, "invocations of the graph on the first thread; every other thread runs once")
	fs.StringVar(&o.threadPrefix, "thread-prefix", "demo-"+now.UTC().Format("20060102-150405")+"-", "prefix of the thread ids")
	fs.DurationVar(&o.latency, "latency", 20*time.Millisecond, "simulated duration of each model and tool call")
	fs.StringVar(&o.expectFile, "expect", "", "write the final state of every thread as JSON {thread_id: state} to this file")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "time allowed to export the spans at the end")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.threads < 1 || o.runs < 1 {
		return o, fmt.Errorf("-threads and -runs must be at least 1 (got %d, %d)", o.threads, o.runs)
	}
	if strings.TrimSpace(o.threadPrefix) == "" {
		return o, errors.New("-thread-prefix must not be empty")
	}
	return o, nil
}

// run executes the graph on every thread (threads concurrently, a thread's
// invocations one after another), flushes the spans to exp, and writes the
// final states when asked.
func run(ctx context.Context, o options, exp sdktrace.SpanExporter, stdout io.Writer) error {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", "dashstream-demo")))
	if err != nil {
		return fmt.Errorf("resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	tracer := tp.Tracer("github.com/dashstream/dashstreamexporter/cmd/demo")
	graph := newAssistantGraph()

	finals := make(map[string]json.RawMessage, o.threads)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, o.threads)
	for i := range o.threads {
		thread := fmt.Sprintf("%s%d", o.threadPrefix, i+1)
		runs := 1
		if i == 0 {
			runs = o.runs
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			final, err := runThread(ctx, graph, Run{Thread: thread, Tracer: tracer,
				Model: fakeModel{latency: o.latency}, Tools: map[string]Tool{"web_search": webSearch(o.latency)}},
				runs, &mu, stdout)
			mu.Lock()
			defer mu.Unlock()
			errs[i] = err
			if err == nil {
				finals[thread] = final
			}
		}()
	}
	wg.Wait()

	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
	defer cancel()
	if err := tp.Shutdown(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("export spans: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported the spans of %d thread(s) to %s\n", o.threads, o.endpoint)
	if o.expectFile != "" {
		b, err := json.MarshalIndent(finals, "", "  ")
		if err != nil {
			return fmt.Errorf("encode final states: %w", err)
		}
		if err := os.WriteFile(o.expectFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.expectFile, err)
		}
		fmt.Fprintf(stdout, "wrote final states to %s\n", o.expectFile)
	}
	return nil
}

// runThread invokes the graph runs times on one thread, carrying the state
// from one invocation to the next like a checkpointer, and returns the
// final state's JSON.
func runThread(ctx context.Context, g *Graph, r Run, runs int, mu *sync.Mutex, stdout io.Writer) (json.RawMessage, error) {
	state := State{}
	topics := []string{"stream processing", "graph runtimes", "observability", "checkpointing"}
	for n := range runs {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("run id: %w", err)
		}
		r.RunID = id.String()
		applyInput(state, topics[n%len(topics)])
		path, err := g.Invoke(ctx, r, state)
		if err != nil {
			return nil, fmt.Errorf("thread %s run %d: %w", r.Thread, n+1, err)
		}
		mu.Lock()
		fmt.Fprintf(stdout, "thread %s run %d/%d (%s): %s\n", r.Thread, n+1, runs, r.RunID, strings.Join(path, " → "))
		mu.Unlock()
	}
	final, err := stateJSON(state)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(final), nil
}
