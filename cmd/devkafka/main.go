// Command devkafka runs an in-process Kafka (franz-go's kfake) on a TCP port
// so the collector, the demo and the dashstream CLI can be tried on a machine
// with nothing installed. It is for development only: one broker by default
// (-brokers N for a cluster whose leaders can be moved, see chaos.go), no
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
	"strings"
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
	ch, err := newChaos(cluster, opts.topics, stderr)
	if err != nil {
		return err
	}
	control := ""
	if opts.control != "" {
		addr, stopControl, err := ch.serve(ctx, opts.control)
		if err != nil {
			return err
		}
		defer stopControl()
		control = " control=http://" + addr.String()
	}
	// SIGUSR1: every partition gets a new leader (a leader election).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	fmt.Fprintf(stdout, "devkafka ready: brokers=%s partitions=%d auto-create=%t%s\n",
		strings.Join(addrs, ","), opts.partitions, !opts.noAutoCreate, control)
	if ready != nil {
		ready(addrs[0])
	}
	for {
		select {
		case <-usr1:
			ch.shuffle()
			continue
		case <-ctx.Done():
		}
		break
	}
	fmt.Fprintln(stderr, "devkafka: shutting down")
	return nil
}
