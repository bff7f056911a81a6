package dashstreamexporter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
	"github.com/dashstream/dashstreamexporter/internal/metadata"
)

// settleHarness is an exporter with just what settle needs, and a loss
// reporter that records what it reports.
func settleHarness(t *testing.T) (*tracesExporter, *componenttest.Telemetry, func() []string) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	var mu sync.Mutex
	var reported []string
	e := &tracesExporter{
		cfg:    createDefaultConfig().(*Config),
		logger: zap.NewNop(),
		tel:    &telemetry{tb: tb},
	}
	e.losses = newLossReporter(func(ids []string) {
		mu.Lock()
		reported = append(reported, ids...)
		mu.Unlock()
	})
	e.losses.start()
	t.Cleanup(e.losses.stop)
	return e, tel, func() []string {
		eventually(t, 5*time.Second, "loss reports", e.losses.idle)
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(reported)
		slices.Sort(out)
		return out
	}
}

// A permanent drop in an attempt that also has records to retry must not be
// forgotten when the retry succeeds: with the queue disabled the caller
// would see success for a record that was neither delivered nor reported.
// (With producer.linger 0 the oversized record's batch fails for good while
// the next batches of its partition fail retryably; that was the flake of
// TestQueueDisabledPermanentError.)
func TestSettleKeepsEarlierDropsAcrossRetries(t *testing.T) {
	e, tel, _ := settleHarness(t)
	recs := []*translate.Record{testRecords(1, 8, "a", 1)[0], testRecords(1, 8, "big", 1)[0], testRecords(1, 8, "big", 2)[0]}
	err := e.settle(t.Context(), newRecordsRequest(recs), []error{nil, sarama.ErrMessageSizeTooLarge, sarama.ErrOutOfOrderSequenceNumber}, time.Now())
	pf, ok := errors.AsType[*partialFailure](err)
	require.True(t, ok, "got %v", err)
	require.Len(t, pf.remaining.records, 1)
	// The retry delivers the rest: the request still ends in the drop.
	err = e.settle(t.Context(), pf.remaining, []error{nil}, time.Now())
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "got %v", err)
	assert.ErrorIs(t, err, sarama.ErrMessageSizeTooLarge)
	assert.Equal(t, map[string]int64{lossOversize: 1}, sumByAttr(t, tel, "otelcol_dashstream_records_lost", "reason"),
		"the drop is counted once")
}

func TestSettle(t *testing.T) {
	retry := sarama.ErrNotLeaderForPartition
	perm := sarama.ErrMessageSizeTooLarge
	rec := func(thread string, seq uint64) *translate.Record {
		return testRecords(1, 8, thread, seq)[0]
	}
	tests := []struct {
		name          string
		recs          []*translate.Record
		outcomes      []error
		wantRemaining []uint64 // sequences left for the retry
		wantPermanent bool
		wantLost      map[string]int64
		wantReported  []string
		setup         func(*tracesExporter)
	}{
		{
			name:     "all acknowledged",
			recs:     []*translate.Record{rec("a", 1), rec("b", 1)},
			outcomes: []error{nil, nil},
		},
		{
			name:          "retry only the unacknowledged, in order",
			recs:          []*translate.Record{rec("a", 1), rec("b", 1), rec("a", 2), rec("b", 2)},
			outcomes:      []error{nil, retry, retry, retry},
			wantRemaining: []uint64{1, 2, 2},
			// Retries are not losses: no thread resyncs.
		},
		{
			name:          "a failure before an acknowledged record of its thread is dropped",
			recs:          []*translate.Record{rec("a", 1), rec("a", 2), rec("b", 1)},
			outcomes:      []error{retry, nil, nil},
			wantPermanent: true,
			wantLost:      map[string]int64{lossReordered: 1},
			wantReported:  []string{"a"},
		},
		{
			name:          "permanent error for one record only",
			recs:          []*translate.Record{rec("a", 1), rec("big", 1), rec("c", 1)},
			outcomes:      []error{nil, perm, nil},
			wantPermanent: true,
			wantLost:      map[string]int64{lossOversize: 1},
			wantReported:  []string{"big"},
		},
		{
			name:          "permanent and retryable together: retry the rest",
			recs:          []*translate.Record{rec("a", 1), rec("big", 1), rec("c", 1)},
			outcomes:      []error{retry, perm, retry},
			wantRemaining: []uint64{1, 1},
			wantLost:      map[string]int64{lossOversize: 1},
			wantReported:  []string{"big"},
		},
		{
			name:         "queued: partly delivered ends without error, the loss counted",
			recs:         []*translate.Record{rec("a", 1), rec("big", 1), rec("c", 1)},
			outcomes:     []error{nil, perm, nil},
			wantLost:     map[string]int64{lossOversize: 1},
			wantReported: []string{"big"},
			setup:        func(e *tracesExporter) { e.queueAsync = true },
		},
		{
			name:          "queued: nothing delivered is the request's permanent error",
			recs:          []*translate.Record{rec("big", 1)},
			outcomes:      []error{perm},
			wantPermanent: true,
			wantLost:      map[string]int64{lossOversize: 1},
			wantReported:  []string{"big"},
			setup:         func(e *tracesExporter) { e.queueAsync = true },
		},
		{
			name:          "retry disabled: the unacknowledged are lost and resync",
			recs:          []*translate.Record{rec("a", 1), rec("b", 1), rec("b", 2)},
			outcomes:      []error{nil, retry, retry},
			wantPermanent: true,
			wantLost:      map[string]int64{lossRetriesExhausted: 2},
			wantReported:  []string{"b"},
			setup:         func(e *tracesExporter) { e.cfg.BackOffConfig.Enabled = false },
		},
		{
			name:          "max_elapsed_time reached: the unacknowledged are lost and resync",
			recs:          []*translate.Record{rec("a", 1), rec("b", 1)},
			outcomes:      []error{retry, nil},
			wantPermanent: true,
			wantLost:      map[string]int64{lossRetriesExhausted: 1},
			wantReported:  []string{"a"},
			setup:         func(e *tracesExporter) { e.cfg.BackOffConfig.MaxElapsedTime = time.Second },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, tel, reported := settleHarness(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			err := e.settle(t.Context(), newRecordsRequest(tt.recs), tt.outcomes, time.Now())
			switch {
			case tt.wantRemaining != nil:
				pf, ok := errors.AsType[*partialFailure](err)
				require.True(t, ok, "got %v", err)
				assert.False(t, consumererror.IsPermanent(err))
				var seqs []uint64
				for _, r := range pf.remaining.records {
					seqs = append(seqs, r.Sequence)
				}
				assert.Equal(t, tt.wantRemaining, seqs)
			case tt.wantPermanent:
				require.Error(t, err)
				assert.True(t, consumererror.IsPermanent(err), "got %v", err)
			default:
				require.NoError(t, err)
			}
			if tt.wantLost == nil {
				_, err := tel.GetMetric("otelcol_dashstream_records_lost")
				assert.Error(t, err, "nothing lost")
			} else {
				assert.Equal(t, tt.wantLost, sumByAttr(t, tel, "otelcol_dashstream_records_lost", "reason"))
			}
			assert.Equal(t, tt.wantReported, reported())
		})
	}
}

func TestLossReporterStopWithoutStart(t *testing.T) {
	l := newLossReporter(func([]string) { t.Error("no report expected") })
	l.add(nil)
	l.stop()
	assert.True(t, l.idle())
}

func TestResolveTopic(t *testing.T) {
	e, tel, _ := settleHarness(t)
	e.cfg.TopicFromAttribute = "dashstream.topic"
	e.cfg.TopicFromMetadataKey = "x-topic"
	withMeta := func(v string) context.Context {
		return client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{"x-topic": {v}})})
	}
	res := func(v string) pcommon.Resource {
		r := pcommon.NewResource()
		if v != "" {
			r.Attributes().PutStr("dashstream.topic", v)
		}
		return r
	}
	tests := []struct {
		name string
		ctx  context.Context
		res  pcommon.Resource
		want string
	}{
		{"default", context.Background(), res(""), "dashstream-events"},
		{"attribute", context.Background(), res("tenant-a"), "tenant-a"},
		{"metadata wins", withMeta("from-meta"), res("tenant-a"), "from-meta"},
		{"invalid metadata falls back to attribute", withMeta("bad topic"), res("tenant-a"), "tenant-a"},
		{"invalid attribute falls back to topic", context.Background(), res("no/slash"), "dashstream-events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, e.resolveTopic(tt.ctx, tt.res))
		})
	}
	assert.Equal(t, map[string]int64{"invalid_topic": 2}, sumByAttr(t, tel, "otelcol_dashstream_bad_input", "reason"))
}
