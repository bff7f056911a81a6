package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// options are devkafka's command-line settings.
type options struct {
	listen        string
	advertiseHost string
	partitions    int
	topics        []string
	noAutoCreate  bool
	dataDir       string
	logLevel      string
	brokers       int    // brokers in the cluster, on consecutive ports from -listen's
	control       string // HTTP address of the chaos endpoints ("" = none)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("devkafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9092", "TCP address the broker listens on (host:port; port 0 picks a free one)")
	fs.StringVar(&o.advertiseHost, "advertise-host", "", "host name given to clients in metadata (default: the listen host, or 127.0.0.1 when that is a wildcard)")
	fs.IntVar(&o.partitions, "partitions", 3, "partitions of topics created on demand")
	topics := fs.String("topics", "dashstream-events", "comma-separated topics created at start")
	fs.BoolVar(&o.noAutoCreate, "no-auto-create", false, "refuse to create unknown topics on demand (like a broker with auto.create.topics.enable=false)")
	fs.StringVar(&o.dataDir, "data-dir", "", "keep the log in this directory across restarts (default: memory only)")
	fs.StringVar(&o.logLevel, "log-level", "none", "kfake log level: none, error, warn, info, debug")
	fs.IntVar(&o.brokers, "brokers", 1, "brokers in the cluster: the first on -listen, the others on the next ports (or free ones with port 0); partition leaders spread over them")
	fs.StringVar(&o.control, "control", "", "serve chaos endpoints on this HTTP address (host:port): leader moves, broker removal and return, produce faults (see chaos.go)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.brokers < 1 || o.brokers > 16 {
		return o, fmt.Errorf("-brokers must be 1..16, got %d", o.brokers)
	}
	if o.partitions < 1 {
		return o, fmt.Errorf("-partitions must be at least 1, got %d", o.partitions)
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return o, fmt.Errorf("-listen %q: %w", o.listen, err)
	}
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.topics = append(o.topics, t)
		}
	}
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return o, err
	}
	return o, nil
}

func parseLogLevel(s string) (kfake.LogLevel, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return kfake.LogLevelNone, nil
	case "error":
		return kfake.LogLevelError, nil
	case "warn":
		return kfake.LogLevelWarn, nil
	case "info":
		return kfake.LogLevelInfo, nil
	case "debug":
		return kfake.LogLevelDebug, nil
	}
	return kfake.LogLevelNone, fmt.Errorf("-log-level %q: want none, error, warn, info or debug", s)
}

// startCluster builds the kfake options from o. kfake always asks for
// 127.0.0.1:<port>; the listen function substitutes the configured address
// and makes the listener report the advertised host, because kfake hands
// clients the listener's address in metadata responses.
func startCluster(o options, stderr io.Writer) (*kfake.Cluster, error) {
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("-listen %q: %w", o.listen, err)
	}
	advertise := o.advertiseHost
	if advertise == "" {
		advertise = host
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			advertise = "127.0.0.1"
		}
	}
	// kfake asks for 127.0.0.1:<port>, <port> from kfake.Ports: the
	// broker listens on the configured host at that port.
	listen := func(network, addr string) (net.Listener, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		where := net.JoinHostPort(host, port)
		ln, err := net.Listen(network, where)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", where, err)
		}
		return advertisedListener{Listener: ln, host: advertise}, nil
	}
	ports, err := brokerPorts(o)
	if err != nil {
		return nil, err
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(o.brokers),
		kfake.Ports(ports...),
		kfake.ListenFn(listen),
		kfake.DefaultNumPartitions(o.partitions),
		kfake.WithLogger(kfake.BasicLogger(stderr, level)),
	}
	if !o.noAutoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if len(o.topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(o.partitions), o.topics...))
	}
	if o.dataDir != "" {
		opts = append(opts, kfake.DataDir(o.dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	return c, nil
}

// advertisedListener reports host (with the real port) as its address.
type advertisedListener struct {
	net.Listener
	host string
}

func (l advertisedListener) Addr() net.Addr {
	a := l.Listener.Addr()
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a
	}
	return hostAddr(net.JoinHostPort(l.host, strconv.Itoa(tcp.Port)))
}

// hostAddr is a net.Addr whose String is a host:port that may be a name.
type hostAddr string

func (hostAddr) Network() string  { return "tcp" }
func (a hostAddr) String() string { return string(a) }

// brokerPorts: the first broker on -listen's port, the others on the ports
// after it (all free ones when that port is 0).
func brokerPorts(o options) ([]int, error) {
	_, p, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("-listen %q: %w", o.listen, err)
	}
	base, err := strconv.Atoi(p)
	if err != nil || base < 0 || base+o.brokers-1 > 65535 {
		return nil, fmt.Errorf("-listen %q: bad port", o.listen)
	}
	ports := make([]int, o.brokers)
	for i := range ports {
		if base > 0 {
			ports[i] = base + i
		}
	}
	return ports, nil
}
