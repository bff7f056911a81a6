package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// endOffsets returns the sum of the high watermarks of topic's partitions:
// the number of records in a fresh, non-transactional topic.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	for _, t := range mresp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, fmt.Errorf("metadata of %s: %w", topic, err)
		}
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p.Partition
			rp.Timestamp = -1 // latest
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	lresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var sum int64
	for _, t := range lresp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, err)
			}
			sum += p.Offset
		}
	}
	return sum, nil
}

// latencySample is one span end → record received interval.
type latencySample struct {
	end time.Time
	d   time.Duration
	// kafka is record timestamp → received: the producer stamps records
	// when the exporter hands them over, so this is the Kafka leg (linger,
	// produce, fetch) and d - kafka the collector leg. Negative: unknown.
	kafka time.Duration
}

// kafkaLeg is the time from the record's producer timestamp to its receipt,
// or -1 when the record has no usable timestamp.
func kafkaLeg(r *kgo.Record, arrival time.Time) time.Duration {
	if r.Timestamp.Year() < 2020 {
		return -1
	}
	return arrival.Sub(r.Timestamp)
}

// kindStat counts records of one kind.
type kindStat struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
}

// recordStats is what a consumer learned about a topic.
type recordStats struct {
	Records int64                `json:"records"`
	Bytes   int64                `json:"bytes"`
	ByKind  map[string]*kindStat `json:"by_kind"`
	// Spans counts the spans inside OTLP records (reference side).
	Spans int64 `json:"spans"`
	// Latencies are span end → record received, for the records that carry
	// a span's end time (live consumption only).
	Latencies        []latencySample `json:"-"`
	DecodeErrors     int64           `json:"decode_errors"`
	FirstDecodeError string          `json:"first_decode_error,omitempty"`
}

func (s *recordStats) add(kind string, n int64) {
	if s.ByKind == nil {
		s.ByKind = map[string]*kindStat{}
	}
	k := s.ByKind[kind]
	if k == nil {
		k = &kindStat{}
		s.ByKind[kind] = k
	}
	k.Records++
	k.Bytes += n
}

func (s *recordStats) decodeError(err error) {
	s.DecodeErrors++
	if s.FirstDecodeError == "" {
		s.FirstDecodeError = err.Error()
	}
}

// recordSize is what a record occupies as user data: key, value, headers.
func recordSize(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// recordDecoder classifies one record into st; arrival is when the
// consumer received it and live says whether that time is meaningful.
type recordDecoder func(r *kgo.Record, arrival time.Time, live bool, st *recordStats)

// Kinds of DashStream records in the statistics.
const (
	kindEvent         = "event"
	kindStatePatch    = "state_diff_patch"
	kindStateFull     = "state_diff_full"
	kindCheckpoint    = "checkpoint"
	kindOtherMessages = "other"
	kindOTLP          = "otlp"
)

// dashStreamDecoder decodes our records. NODE_END and GRAPH_END events carry
// the span's end time as header.timestamp_us (SPEC §4.3), so they give the
// latency samples.
func dashStreamDecoder() (recordDecoder, error) {
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		return nil, err
	}
	return func(r *kgo.Record, arrival time.Time, live bool, st *recordStats) {
		n := recordSize(r)
		msg, err := dec.Decode(r.Value)
		if err != nil {
			st.decodeError(err)
			st.add(kindOtherMessages, n)
			return
		}
		switch m := msg.GetMessage().(type) {
		case *dashstreampb.DashStreamMessage_Event:
			st.add(kindEvent, n)
			et := m.Event.GetEventType()
			if live && (et == dashstreampb.EventType_EVENT_TYPE_NODE_END || et == dashstreampb.EventType_EVENT_TYPE_GRAPH_END) {
				ts := time.UnixMicro(m.Event.GetHeader().GetTimestampUs())
				st.Latencies = append(st.Latencies, latencySample{end: ts, d: arrival.Sub(ts), kafka: kafkaLeg(r, arrival)})
			}
		case *dashstreampb.DashStreamMessage_StateDiff:
			if len(m.StateDiff.GetFullState()) > 0 {
				st.add(kindStateFull, n)
			} else {
				st.add(kindStatePatch, n)
			}
		case *dashstreampb.DashStreamMessage_Checkpoint:
			st.add(kindCheckpoint, n)
		default:
			st.add(kindOtherMessages, n)
		}
	}, nil
}

// otlpDecoder decodes the reference's otlp_proto records; every span gives a
// latency sample from its end time.
func otlpDecoder() recordDecoder {
	var um ptrace.ProtoUnmarshaler
	return func(r *kgo.Record, arrival time.Time, live bool, st *recordStats) {
		st.add(kindOTLP, recordSize(r))
		td, err := um.UnmarshalTraces(r.Value)
		if err != nil {
			st.decodeError(err)
			return
		}
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				st.Spans += int64(spans.Len())
				if !live {
					continue
				}
				for k := range spans.Len() {
					end := spans.At(k).EndTimestamp().AsTime()
					st.Latencies = append(st.Latencies, latencySample{end: end, d: arrival.Sub(end), kafka: kafkaLeg(r, arrival)})
				}
			}
		}
	}
}

// consumer reads a topic from the beginning in its own goroutine.
type consumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	count  atomic.Int64
	stats  recordStats
	err    error
}

// startConsumer starts reading topic. With live set, the receive times are
// latency samples, so it should run while the load runs.
func startConsumer(ctx context.Context, brokers, topic string, decode recordDecoder, live bool) (*consumer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(32<<20),
		kgo.BrokerMaxReadBytes(128<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("consumer client: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	c := &consumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			fetches := cl.PollFetches(cctx)
			arrival := time.Now()
			if cctx.Err() != nil {
				return
			}
			fetches.EachError(func(t string, p int32, err error) {
				if c.err == nil && !errors.Is(err, context.Canceled) {
					c.err = fmt.Errorf("fetching %s/%d: %w", t, p, err)
				}
			})
			fetches.EachRecord(func(r *kgo.Record) {
				c.stats.Records++
				c.stats.Bytes += recordSize(r)
				decode(r, arrival, live, &c.stats)
			})
			c.count.Store(c.stats.Records)
		}
	}()
	return c, nil
}

// waitFor polls until the consumer has read want records or the timeout
// passes, then stops it and returns its statistics.
func (c *consumer) waitFor(ctx context.Context, want int64, timeout time.Duration) (recordStats, error) {
	deadline := time.Now().Add(timeout)
	for c.count.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.cancel()
	<-c.done
	c.cl.Close()
	if c.stats.Records < want {
		return c.stats, fmt.Errorf("consumed %d of %d records within %s (fetch error: %v)", c.stats.Records, want, timeout, c.err)
	}
	return c.stats, nil
}
