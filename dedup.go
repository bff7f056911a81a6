package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// Exactly once as consumers see it, across crashes and new producer ids.
//
// Kafka's idempotent producer drops a resent batch only within one producer
// id. A record whose outcome was unknown — its request was in flight when
// the collector was killed and comes back from the persistent queue, or an
// attempt failed after the broker had written it and the retry runs on a
// new producer — may already be in Kafka, and the DashFlow UI treats a
// sequence it has already applied as out of order (it stops applying patches
// until the next full state). So whenever a producer (and with it a producer
// id) is created, before it sends a record to a partition it reads back
// that partition's last records (readBack), and it skips every record
// whose thread already has that sequence, or a higher one, in Kafka.
//
// Why the tail is enough: only records of the one request in flight can be
// written but unacknowledged (one queue consumer; the next request is taken
// only once this one is settled), and a request holds at most the batch's
// max_size records; everything before it was acknowledged, everything after
// it was never sent. Per thread the records of a partition are in sequence
// order, so the highest sequence found says which records are there.

// minReadBack is how many records back from a partition's end the producer
// looks at least; readBack raises it for larger requests.
const minReadBack = 4 * defaultBatchMaxRecords

// maxReadBack bounds the read-back when requests have no size bound.
const maxReadBack = 1_000_000

// readBack is how many records back from a partition's end the producer
// looks: twice the most records one request can hold, at least minReadBack.
// A bytes sizer bounds records at one per 64 bytes (a DashStream record is
// larger); no max_size falls back to maxReadBack.
func readBack(cfg *Config) int64 {
	q := cfg.QueueBatchConfig.Get()
	if q == nil || !q.Batch.HasValue() {
		return minReadBack
	}
	b := q.Batch.Get()
	var most int64
	switch {
	case b.MaxSize <= 0:
		return maxReadBack
	case b.Sizer == exporterhelper.RequestSizerTypeBytes:
		most = b.MaxSize / 64
	default:
		most = b.MaxSize
	}
	return min(max(2*most, minReadBack), maxReadBack)
}

// dedupReadTimeout bounds reading one partition's tail.
const dedupReadTimeout = 30 * time.Second

// dedupClosedCheck is how often a read-back looks whether its client was
// closed by a reset.
const dedupClosedCheck = 50 * time.Millisecond

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// kafkaTail is what the producer read back since it was created: the
// partitions it checked and, per thread, the highest sequence found.
type kafkaTail struct {
	mu      sync.Mutex // sends may run concurrently (sending_queue.num_consumers > 1)
	window  int64      // records read back per partition
	checked map[topicPartition]bool
	// complete: topics whose every partition is checked, with their
	// partition count then.
	complete map[string]int
	// high holds, per thread found in a tail, the highest sequence there,
	// until a record of the thread above it passes: later ones are higher.
	high map[string]uint64
	dec  *dashstream.Decoder
	// instance, when set, is this exporter's instance header value; own
	// then says per thread in high whether its highest record carries it
	// (restart.go).
	instance []byte
	own      map[string]bool
}

func newKafkaTail(window int64) (*kafkaTail, error) {
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		return nil, err
	}
	return &kafkaTail{window: window, checked: map[topicPartition]bool{}, complete: map[string]int{},
		high: map[string]uint64{}, dec: dec}, nil
}

// delivered reports, per record, whether Kafka already has it, reading back
// the tails of the partitions not checked yet. Once every partition of the
// records' topics is checked, no record's partition needs working out:
// what is left is one lookup per record, none once no thread found in a
// tail is still ahead of its records.
func (k *kafkaTail) delivered(client sarama.Client, recs []*translate.Record) ([]bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]bool, len(recs))
	if k.allComplete(client, recs) {
		if len(k.high) > 0 {
			for i, r := range recs {
				out[i] = k.inTail(r)
			}
		}
		return out, nil
	}
	partitioners := map[string]sarama.Partitioner{}
	counts := map[string]int32{}
	for i, r := range recs {
		n, ok := counts[r.Topic]
		if !ok {
			parts, err := client.Partitions(r.Topic)
			if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				counts[r.Topic] = 0 // nothing can be there yet
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("dashstream: partitions of %q: %w", r.Topic, err)
			}
			n = int32(len(parts))
			counts[r.Topic] = n
			partitioners[r.Topic] = sarama.NewConsistentCRCHashPartitioner(r.Topic)
		}
		if n == 0 {
			continue
		}
		part, err := partitioners[r.Topic].Partition(&sarama.ProducerMessage{Topic: r.Topic, Key: sarama.ByteEncoder(r.Key)}, n)
		if err != nil {
			return nil, fmt.Errorf("dashstream: partition of a record of %q: %w", r.Topic, err)
		}
		tp := topicPartition{r.Topic, part}
		if !k.checked[tp] {
			if err := k.read(client, tp); err != nil {
				return nil, err
			}
			k.checked[tp] = true
			k.noteComplete(r.Topic, int(n))
		}
		out[i] = k.inTail(r)
	}
	return out, nil
}

// inTail reports whether the tail read back holds r's thread at r's
// sequence or beyond; the first record past it lets the thread go.
func (k *kafkaTail) inTail(r *translate.Record) bool {
	high, ok := k.high[r.ThreadID]
	if !ok {
		return false
	}
	if r.Sequence <= high {
		return true
	}
	delete(k.high, r.ThreadID)
	return false
}

// allComplete reports whether every partition of every topic of recs has
// been checked (and the topics kept their partition counts).
func (k *kafkaTail) allComplete(client sarama.Client, recs []*translate.Record) bool {
	last := ""
	for _, r := range recs {
		if r.Topic == last {
			continue
		}
		last = r.Topic
		n, ok := k.complete[r.Topic]
		if !ok {
			return false
		}
		parts, err := client.Partitions(r.Topic)
		if err != nil || len(parts) != n {
			return false
		}
	}
	return true
}

// noteComplete records topic as complete once all its n partitions are
// checked.
func (k *kafkaTail) noteComplete(topic string, n int) {
	for p := range n {
		if !k.checked[topicPartition{topic, int32(p)}] {
			return
		}
	}
	k.complete[topic] = n
}

// read reads a partition's last k.window records and notes each
// thread's highest sequence.
func (k *kafkaTail) read(client sarama.Client, tp topicPartition) error {
	newest, err := client.GetOffset(tp.topic, tp.partition, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("dashstream: newest offset of %s/%d: %w", tp.topic, tp.partition, err)
	}
	oldest, err := client.GetOffset(tp.topic, tp.partition, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("dashstream: oldest offset of %s/%d: %w", tp.topic, tp.partition, err)
	}
	start := max(oldest, newest-k.window)
	if start >= newest {
		return nil
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("dashstream: reading back %s/%d: %w", tp.topic, tp.partition, err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(tp.topic, tp.partition, start)
	if err != nil {
		return fmt.Errorf("dashstream: reading back %s/%d from %d: %w", tp.topic, tp.partition, start, err)
	}
	defer pc.Close()
	deadline := time.NewTimer(dedupReadTimeout)
	defer deadline.Stop()
	// A reset of the producer closes this client under the read; its
	// consumer then never delivers, so give up at once rather than at the
	// deadline.
	closedCheck := time.NewTicker(dedupClosedCheck)
	defer closedCheck.Stop()
	for {
		select {
		case <-closedCheck.C:
			if client.Closed() {
				return fmt.Errorf("dashstream: reading back %s/%d: %w", tp.topic, tp.partition, sarama.ErrClosedClient)
			}
		case m := <-pc.Messages():
			if msg, err := k.dec.Decode(m.Value); err == nil {
				// Records of other producers, or undecodable ones, say
				// nothing about ours.
				h := dashstream.HeaderOf(msg)
				if thread := h.GetThreadId(); thread == string(m.Key) && h.GetSequence() > k.high[thread] {
					k.high[thread] = h.GetSequence()
					if k.instance != nil {
						k.own[thread] = ownRecord(m.Headers, k.instance)
					}
				}
			}
			if m.Offset >= newest-1 {
				return nil
			}
		case err := <-pc.Errors():
			return fmt.Errorf("dashstream: reading back %s/%d: %w", tp.topic, tp.partition, err)
		case <-deadline.C:
			return fmt.Errorf("dashstream: reading back %s/%d: no record within %s", tp.topic, tp.partition, dedupReadTimeout)
		}
	}
}

// ownRecord reports whether a record's headers carry this instance's mark.
func ownRecord(headers []*sarama.RecordHeader, instance []byte) bool {
	for _, h := range headers {
		if h != nil && string(h.Key) == instanceHeader {
			return bytes.Equal(h.Value, instance)
		}
	}
	return false
}
