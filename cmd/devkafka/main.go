// Command devkafka runs an in-process Kafka (franz-go's kfake) on a TCP port
// so the collector, the demo and the dashstream CLI can be tried on a machine
// with nothing installed. It is for development only: one broker, no
// replication, state in memory unless -data-dir is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		os.Exit(1)
	}
}

// run parses args, starts the cluster, prints one ready line to stdout and
// blocks until ctx is done. ready, when not nil, receives the advertised
// address once the broker accepts connections (tests use it).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cluster, err := startCluster(opts, stderr)
	if err != nil {
		return err
	}
	defer cluster.Close()

	addrs := cluster.ListenAddrs()
	if len(addrs) == 0 {
		return errors.New("cluster has no listener")
	}
	fmt.Fprintf(stdout, "devkafka ready: brokers=%s partitions=%d auto-create=%t\n",
		addrs[0], opts.partitions, !opts.noAutoCreate)
	if ready != nil {
		ready(addrs[0])
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "devkafka: shutting down")
	return nil
}
