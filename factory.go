package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"

	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

// NewFactory returns the factory of the `dashstream` traces exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTracesExporter, metadata.TracesStability),
	)
}

func createTracesExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("dashstream: unexpected config type %T", cfg)
	}
	clone := *c
	return newTracesExporter(ctx, set, &clone)
}
