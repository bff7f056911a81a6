package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

// telemetry records the SPEC §6 metrics through mdatagen's builder.
type telemetry struct {
	tb *metadata.TelemetryBuilder
}

// messageTypeName is the `message_type` attribute value: the enum name
// without its prefix, lower case (event, state_diff, checkpoint, ...).
func messageTypeName(t dashstreampb.MessageType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "MESSAGE_TYPE_"))
}

func attrSet(key, value string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))
}

// translated records what one Translate call did.
func (t *telemetry) translated(ctx context.Context, st *translate.Stats, took time.Duration) {
	t.tb.DashstreamTranslationLatency.Record(ctx, took.Seconds())
	t.counted(ctx, st)
}

// counted records the counters of a Translate or ExpireRuns result.
func (t *telemetry) counted(ctx context.Context, st *translate.Stats) {
	tb := t.tb
	if st.StateDiffsPatch > 0 {
		tb.DashstreamStateDiffs.Add(ctx, st.StateDiffsPatch, attrSet("kind", "patch"))
	}
	if st.StateDiffsFull > 0 {
		tb.DashstreamStateDiffs.Add(ctx, st.StateDiffsFull, attrSet("kind", "full"))
	}
	if st.Checkpoints > 0 {
		tb.DashstreamCheckpoints.Add(ctx, st.Checkpoints)
	}
	if st.Redactions > 0 {
		tb.DashstreamRedactions.Add(ctx, st.Redactions)
	}
	if st.OversizeDrops > 0 {
		tb.DashstreamOversizeDrops.Add(ctx, st.OversizeDrops)
		tb.DashstreamRecordsLost.Add(ctx, st.OversizeDrops, attrSet("reason", lossOversize))
	}
	if st.RunsTimedOut > 0 {
		tb.DashstreamRunsTimedOut.Add(ctx, st.RunsTimedOut)
	}
	for reason, n := range st.SpansIgnored {
		if n > 0 {
			tb.DashstreamSpansIgnored.Add(ctx, n, attrSet("reason", reason))
		}
	}
	for reason, n := range st.BadInput {
		if n > 0 {
			tb.DashstreamBadInput.Add(ctx, n, attrSet("reason", reason))
		}
	}
}

// badInput counts one malformed input value found outside the translation.
func (t *telemetry) badInput(ctx context.Context, reason string) {
	t.tb.DashstreamBadInput.Add(ctx, 1, attrSet("reason", reason))
}

// produced records records acknowledged by Kafka.
func (t *telemetry) produced(ctx context.Context, recs []*translate.Record, outcomes []error) {
	type agg struct{ n, bytes int64 }
	byType := map[dashstreampb.MessageType]*agg{}
	for i, r := range recs {
		if outcomes[i] != nil {
			continue
		}
		a := byType[r.Type]
		if a == nil {
			a = &agg{}
			byType[r.Type] = a
		}
		a.n++
		a.bytes += int64(len(r.Value))
	}
	for typ, a := range byType {
		opt := attrSet("message_type", messageTypeName(typ))
		t.tb.DashstreamRecordsProduced.Add(ctx, a.n, opt)
		t.tb.DashstreamBytesProduced.Add(ctx, a.bytes, opt)
	}
}

// lost records records that will never reach Kafka.
func (t *telemetry) lost(ctx context.Context, n int, reason string) {
	if n > 0 {
		t.tb.DashstreamRecordsLost.Add(ctx, int64(n), attrSet("reason", reason))
	}
}

// oversize counts records dropped by the exporter's own size check.
func (t *telemetry) oversize(ctx context.Context, n int) {
	if n > 0 {
		t.tb.DashstreamOversizeDrops.Add(ctx, int64(n))
	}
}
