// Command dashstream reads DashStream topics: `tail` prints the stream one
// readable line per message, `verify` replays it the way a consumer does
// and reports every inconsistency, `decode` turns one record value into
// JSON, `serve` shows the topic live in a browser and relays it to the
// DashFlow UI. It reads Kafka with IBM/sarama, the client the exporter writes with,
// so TLS and SASL settings mean the same on both sides.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
)

// Exit statuses.
const (
	exitOK           = 0
	exitInconsistent = 1 // verify found problems, or a run-time failure
	exitUsage        = 2
)

// env is the process environment a subcommand runs in.
type env struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	stdoutTTY bool
	stderrTTY bool
	noColor   string // $NO_COLOR
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		stdoutTTY: isTerminal(os.Stdout), stderrTTY: isTerminal(os.Stderr),
		noColor: os.Getenv("NO_COLOR"),
	})
	stop()
	os.Exit(code)
}

const usage = `dashstream reads and checks DashStream topics.

Usage:
  dashstream tail   [flags]          print the stream, one line per message
  dashstream verify [flags]          replay the stream and report inconsistencies
  dashstream decode [flags] [FILE]   decode one record value (raw, hex or base64) to JSON
  dashstream serve  [flags]          live view in the browser, and the DashFlow UI's relay on /ws

Run 'dashstream COMMAND -h' for the flags of a command.
`

// cli runs one subcommand and returns the exit status.
func cli(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "tail":
		err = runTail(ctx, args[1:], e)
	case "verify":
		err = runVerify(ctx, args[1:], e)
	case "decode":
		err = runDecode(args[1:], e)
	case "serve":
		err = runServe(ctx, args[1:], e)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "dashstream: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "dashstream %s: %v\n", args[0], err)
		return exitUsage
	case errors.Is(err, errInconsistent):
		return exitInconsistent
	default:
		fmt.Fprintf(e.stderr, "dashstream %s: %v\n", args[0], err)
		return exitInconsistent
	}
}

// usageError marks a bad command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errInconsistent is returned by verify after it printed its report.
var errInconsistent = errors.New("stream is inconsistent")

// parseArgs parses flags that may come before or after positional
// arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// threadFilter selects threads by exact id or shell pattern (path.Match).
type threadFilter []string

func (f *threadFilter) String() string { return strings.Join(*f, ",") }

func (f *threadFilter) Set(v string) error {
	if _, err := path.Match(v, ""); err != nil {
		return fmt.Errorf("bad pattern %q: %w", v, err)
	}
	*f = append(*f, v)
	return nil
}

// match reports whether the thread is selected (all are when empty).
func (f threadFilter) match(id string) bool {
	if len(f) == 0 {
		return true
	}
	for _, p := range f {
		if p == id {
			return true
		}
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}

// readFlags are the flags of the subcommands that read a topic.
type readFlags struct {
	kafka         kafkaFlags
	fromBeginning bool
	follow        bool
	idle          durationFlag
	threads       threadFilter
	color         string
}

func (r *readFlags) register(fs *flag.FlagSet, fromBeginning, follow bool) {
	r.kafka.register(fs)
	fs.BoolVar(&r.fromBeginning, "from-beginning", fromBeginning, "start at the oldest record of each partition (else at the end)")
	fs.BoolVar(&r.follow, "follow", follow, "keep reading new records after the end until interrupted")
	fs.Var(&r.idle, "idle", "after the end, keep reading until no record arrived for this long (e.g. 3s)")
	fs.Var(&r.threads, "thread", "only this thread id or pattern (path.Match, e.g. 'demo-*'); repeatable")
	fs.StringVar(&r.color, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always, never")
}

func (r *readFlags) style(tty bool, noColor string) (style, error) {
	c, ok := decideColor(r.color, tty, noColor)
	if !ok {
		return style{}, usageErrorf("--color %q: want auto, always or never", r.color)
	}
	return style{color: c}, nil
}
