package dashstreamexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

// TestCollectorPipeline runs a real collector (otlp receiver → dashstream
// exporter → kfake) from YAML and sends spans over OTLP/gRPC.
func TestCollectorPipeline(t *testing.T) {
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	otlpPort := freePort(t)
	cfgYAML := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
exporters:
  dashstream:
    brokers: [%q]
    checkpoint_interval: 3
    retry_on_failure:
      initial_interval: 50ms
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [dashstream]
`, otlpPort, brokers[0])
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfgYAML), 0o600))

	otlp := otlpreceiver.NewFactory()
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol-dashstream-test", Version: "test"},
		Factories: func() (otelcol.Factories, error) {
			return otelcol.Factories{
				Receivers: map[component.Type]receiver.Factory{otlp.Type(): otlp},
				Exporters: map[component.Type]exporter.Factory{metadata.Type: NewFactory()},
				Telemetry: otelconftelemetry.NewFactory(),
			}, nil
		},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"file:" + path},
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
		}},
		SkipSettingGRPCLogger: true,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		col.Shutdown()
		require.NoError(t, <-done)
	})
	eventually(t, 30*time.Second, "the collector to run", func() bool { return col.GetState() == otelcol.StateRunning })

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", otlpPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	threads := threadNames("pipe", 3)
	const steps = 5
	for n := 1; n <= steps; n++ {
		_, err := client.Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(stepTraces(threads, n)))
		require.NoError(t, err)
	}

	// Each step yields per thread at least NODE_START, a StateDiff and
	// NODE_END; wait until every thread replays to its final state.
	deadline := time.Now().Add(60 * time.Second)
	for want := len(threads) * steps * 3; ; want++ {
		require.True(t, time.Now().Before(deadline), "the pipeline did not deliver")
		recs := consumeAtLeast(t, brokers, want)
		r := streamCheck(t, recs)
		ok := true
		for _, th := range threads {
			ts := r.Thread(th)
			ok = ok && ts != nil && ts.StateKnown && ts.Sequence > 0 && stateEquals(ts.State, stateJSON(th, steps))
		}
		if ok {
			return
		}
	}
}
