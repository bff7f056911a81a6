package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReceiverCounts(t *testing.T) {
	text := `# HELP otelcol_receiver_accepted_spans_total Number of spans successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_spans_total counter
otelcol_receiver_accepted_spans_total{otel_scope_name="x",receiver="otlp",service_name="a b",transport="grpc"} 12345
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 5 1700000000000
otelcol_receiver_refused_spans_total{receiver="otlp",transport="grpc"} 7
otelcol_receiver_accepted_spans_bare 1e3
otelcol_exporter_sent_spans_total{exporter="kafka"} 99
`
	c, err := parseReceiverCounts(strings.NewReader(text))
	require.NoError(t, err)
	assert.Equal(t, receiverCounts{Accepted: 12345 + 5 + 1000, Refused: 7}, c)

	_, err = parseReceiverCounts(strings.NewReader("otelcol_receiver_accepted_spans_total{a=\"b\"} x\n"))
	assert.Error(t, err)
}
