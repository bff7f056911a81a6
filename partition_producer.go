package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/dashstream/dashstreamexporter/dashstream/translate"
)

// Why not sarama's AsyncProducer (SPEC §5.6: under any leader election or
// broker loss a thread's records reach Kafka complete and in order).
//
// sarama's async producer settles every message on its own: each carries its
// own retry count, and a batch whose retries run out (or whose new leader
// cannot be looked up, or whose circuit breaker is open) is failed while the
// messages behind it — queued with fewer retries spent — are still sent; the
// idempotent producer even bumps its epoch on that failure precisely so the
// broker accepts them. During a leader election longer than the retries,
// records of a partition are therefore acknowledged after an earlier record
// of the same partition failed (TestProducerPrefixUnderElection reproduces it
// with 5 NOT_LEADER_FOR_PARTITION answers in a row: record 0 fails, records
// 1… are acknowledged). For a thread that is a record lost or reordered,
// whatever is done next. No setting of sarama's changes that.
//
// partitionProducer therefore drives sarama one level lower — its client for
// metadata and connections, its request and record-batch encoding — and
// keeps one rule per partition: a batch is sent only after the partition's
// previous batch was acknowledged, a failed batch is retried as it is (same
// producer id, epoch and sequence, so Kafka drops a copy it already has), and
// once a batch fails for good nothing after it is sent. The acknowledged
// records of a partition are always a prefix of what the send had for it;
// the rest is retried in order by the exporter (after the producer is
// replaced and the partitions' tails are read back, dedup.go). Different
// partitions still travel together: one produce request per broker carries
// the next batch of every partition it leads.
type partitionProducer struct {
	client sarama.Client
	conf   *sarama.Config
	idem   bool
	pid    int64
	epoch  int16

	mu     sync.Mutex
	parts  map[topicPartition]*partitionState
	closed bool

	builders builderPool
}

// partitionState is what the producer keeps per partition. mu is held by the
// send producing to it, so concurrent sends (num_consumers > 1) never
// interleave batches of one partition.
type partitionState struct {
	mu  sync.Mutex
	seq int32 // next idempotent sequence
	// broken is set when a batch's outcome is unknown after its last try:
	// its sequence may or may not be in Kafka, so the producer id is done
	// with this partition; the producer is replaced (kafkaProducer.reset).
	broken error
}

func newPartitionProducer(client sarama.Client, conf *sarama.Config) (*partitionProducer, error) {
	if !conf.Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("protocol_version %s: record batches need 0.11.0 or later", conf.Version)
	}
	p := &partitionProducer{client: client, conf: conf, pid: -1, epoch: -1, parts: map[topicPartition]*partitionState{}}
	if conf.Producer.Idempotent {
		resp, err := client.InitProducerID()
		if err != nil {
			return nil, fmt.Errorf("idempotent producer id: %w", err)
		}
		if !errors.Is(resp.Err, sarama.ErrNoError) {
			return nil, fmt.Errorf("idempotent producer id: %w", resp.Err)
		}
		p.idem, p.pid, p.epoch = true, resp.ProducerID, resp.ProducerEpoch
	}
	return p, nil
}

// Close stops new sends; a send under way gives up at its next round (its
// client is closed by the caller).
func (p *partitionProducer) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

func (p *partitionProducer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed || p.client.Closed()
}

// partitionJob is one send's records for one partition.
type partitionJob struct {
	tp    topicPartition
	st    *partitionState
	idx   []int // record indices, in order
	count int   // plan: how many records are the job's
	next  int   // idx[:next] are settled
	batch int   // idx[next:next+batch] is the batch being sent (0: none yet)
	bytes int
	seq   int32 // the batch's first sequence

	tries     int
	notBefore time.Time
	result    error // of the last try
}

func (j *partitionJob) done() bool { return j.next == len(j.idx) }

// send produces recs (skipping those with skip[i]) and writes each one's
// outcome (nil = acknowledged) into outcomes. false when the producer was
// closed before anything was sent.
func (p *partitionProducer) send(recs []*translate.Record, skip []bool, outcomes []error) bool {
	if p.isClosed() {
		return false
	}
	bb := p.builders.get()
	defer p.builders.put(bb)
	jobs := p.plan(recs, skip, outcomes, bb)
	// Lock the partitions in one order so concurrent sends cannot deadlock.
	slices.SortFunc(jobs, func(a, b *partitionJob) int {
		return cmp.Or(cmp.Compare(a.tp.topic, b.tp.topic), cmp.Compare(a.tp.partition, b.tp.partition))
	})
	for _, j := range jobs {
		j.st.mu.Lock()
		defer j.st.mu.Unlock()
	}
	active := jobs[:0:0]
	for _, j := range jobs {
		if j.st.broken != nil {
			p.failRest(j, outcomes, j.st.broken)
			continue
		}
		active = append(active, j)
	}
	for len(active) > 0 {
		if p.isClosed() {
			for _, j := range active {
				p.failRest(j, outcomes, errors.New("dashstream: Kafka producer was reset; retrying"))
			}
			return true
		}
		ready, wait := p.readyJobs(active)
		if len(ready) == 0 {
			time.Sleep(wait) // backoff of every active partition
			continue
		}
		p.round(recs, ready, bb)
		var refresh []string
		for _, j := range ready {
			if p.settle(j, recs, outcomes) {
				refresh = append(refresh, j.tp.topic)
			}
		}
		if len(refresh) > 0 {
			slices.Sort(refresh)
			_ = p.client.RefreshMetadata(slices.Compact(refresh)...) // a failure shows in the next try
		}
		active = slices.DeleteFunc(active, (*partitionJob).done)
	}
	return true
}

// plan assigns records to partitions (sarama's configured partitioner over
// all of a topic's partitions, as its producer does for keyed records).
// Records of a topic whose partitions cannot be had fail here. A run of
// records with one key (a span's records, a thread's) is hashed once.
func (p *partitionProducer) plan(recs []*translate.Record, skip []bool, outcomes []error, bb *batchBuilder) []*partitionJob {
	type topicInfo struct {
		n    int32
		part sarama.Partitioner
		err  error
	}
	topics := map[string]*topicInfo{}
	byTP := map[topicPartition]*partitionJob{}
	var jobs []*partitionJob
	var key keyEncoder
	msg := sarama.ProducerMessage{Key: &key}
	bb.owner = reserve(bb.owner, len(recs))[:len(recs)]
	var last *partitionJob // of the record before, when it was planned
	for i, r := range recs {
		if skip[i] {
			last = nil
			continue
		}
		if last != nil && r.Topic == recs[i-1].Topic && bytes.Equal(r.Key, recs[i-1].Key) {
			bb.owner[i] = last
			last.count++
			continue
		}
		last = nil
		ti := topics[r.Topic]
		if ti == nil {
			ti = &topicInfo{}
			parts, err := p.client.Partitions(r.Topic)
			switch {
			case err != nil:
				ti.err = err
			case len(parts) == 0:
				ti.err = sarama.ErrLeaderNotAvailable
			default:
				ti.n, ti.part = int32(len(parts)), p.conf.Producer.Partitioner(r.Topic)
			}
			topics[r.Topic] = ti
		}
		if ti.err != nil {
			outcomes[i] = ti.err
			continue
		}
		msg.Topic, key = r.Topic, keyEncoder(r.Key)
		part, err := ti.part.Partition(&msg, ti.n)
		if err != nil {
			outcomes[i] = err
			continue
		}
		tp := topicPartition{r.Topic, part}
		j := byTP[tp]
		if j == nil {
			j = &partitionJob{tp: tp, st: p.state(tp)}
			byTP[tp] = j
			jobs = append(jobs, j)
		}
		bb.owner[i], last = j, j
		j.count++
	}
	// The jobs' indices, in record order, in one slice.
	total := 0
	for _, j := range jobs {
		total += j.count
	}
	bb.idx = reserve(bb.idx, total)[:total]
	idx := bb.idx
	for _, j := range jobs {
		j.idx, idx = idx[:0:j.count], idx[j.count:]
	}
	for i, j := range bb.owner {
		if j != nil {
			j.idx = append(j.idx, i)
		}
	}
	return jobs
}

// keyEncoder hands a record key to sarama's partitioner without boxing a
// new slice for every record.
type keyEncoder []byte

func (k *keyEncoder) Encode() ([]byte, error) { return *k, nil }
func (k *keyEncoder) Length() int             { return len(*k) }

func (p *partitionProducer) state(tp topicPartition) *partitionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.parts[tp]
	if st == nil {
		st = &partitionState{}
		p.parts[tp] = st
	}
	return st
}

// readyJobs returns the jobs whose backoff is over, or how long to wait for
// the first one.
func (p *partitionProducer) readyJobs(active []*partitionJob) ([]*partitionJob, time.Duration) {
	now := time.Now()
	var ready []*partitionJob
	wait := time.Duration(-1)
	for _, j := range active {
		if d := j.notBefore.Sub(now); d > 0 {
			if wait < 0 || d < wait {
				wait = d
			}
			continue
		}
		ready = append(ready, j)
	}
	return ready, wait
}

// round sends the current batch of every ready job, one request per leader
// (several when they would exceed the request limit), brokers in parallel,
// and records each job's result.
func (p *partitionProducer) round(recs []*translate.Record, ready []*partitionJob, bb *batchBuilder) {
	byLeader := map[*sarama.Broker][]*partitionJob{}
	var leaders []*sarama.Broker
	records := 0
	for _, j := range ready {
		if j.batch == 0 {
			p.nextBatch(j, recs)
		}
		records += j.batch
		leader, err := p.client.Leader(j.tp.topic, j.tp.partition)
		if err != nil {
			j.result = err
			continue
		}
		if byLeader[leader] == nil {
			leaders = append(leaders, leader)
		}
		byLeader[leader] = append(byLeader[leader], j)
	}
	// Record batches are built here, before the brokers' goroutines: the
	// builder is not shared.
	bb.newRound(records)
	reqs := make([][]*produceCall, len(leaders))
	for k, b := range leaders {
		reqs[k] = p.requests(byLeader[b], recs, bb)
	}
	var wg sync.WaitGroup
	for k, b := range leaders {
		wg.Go(func() {
			for _, c := range reqs[k] {
				p.produce(b, c)
			}
		})
	}
	wg.Wait()
}

// nextBatch takes the job's next records, in order, up to
// producer.max_message_bytes per batch (at least one record).
func (p *partitionProducer) nextBatch(j *partitionJob, recs []*translate.Record) {
	limit := p.conf.Producer.MaxMessageBytes
	maxCount := p.conf.Producer.Flush.MaxMessages
	j.batch, j.bytes = 0, recordBatchOverhead
	for _, i := range j.idx[j.next:] {
		n := recordSize(recs[i])
		if j.batch > 0 && (j.bytes+n > limit || (maxCount > 0 && j.batch >= maxCount)) {
			break
		}
		j.batch++
		j.bytes += n
	}
	j.seq = j.st.seq
}

// recordBatchOverhead is a v2 record batch's header, as sarama counts it.
const recordBatchOverhead = 61

// maxRequestBytes bounds one produce request: well below sarama's and
// Kafka's default request limits (100 MiB).
const maxRequestBytes = 32 << 20

// produceCall is one produce request and the jobs whose batches it carries.
type produceCall struct {
	req  *sarama.ProduceRequest
	jobs []*partitionJob
}

func (p *partitionProducer) requests(jobs []*partitionJob, recs []*translate.Record, bb *batchBuilder) []*produceCall {
	var out []*produceCall
	var cur *produceCall
	size := 0
	for _, j := range jobs {
		if cur == nil || size+j.bytes > maxRequestBytes {
			cur = &produceCall{req: p.newRequest()}
			out = append(out, cur)
			size = 0
		}
		cur.req.AddBatch(j.tp.topic, j.tp.partition, p.recordBatch(j, recs, bb))
		cur.jobs = append(cur.jobs, j)
		size += j.bytes
	}
	return out
}

func (p *partitionProducer) newRequest() *sarama.ProduceRequest {
	return &sarama.ProduceRequest{
		RequiredAcks: p.conf.Producer.RequiredAcks,
		Timeout:      int32(p.conf.Producer.Timeout / time.Millisecond),
		Version:      produceVersion(p.conf.Version),
	}
}

// produceVersion is the newest Produce request version the configured
// protocol version has (record batches need 3 or later).
func produceVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V3_7_0_0):
		return 10
	case v.IsAtLeast(sarama.V2_8_0_0):
		return 9
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 7
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 6
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 5
	default:
		return 3
	}
}

// recordBatch encodes the job's current batch. A retry builds the same
// batch again: same records, producer id, epoch and first sequence. The
// RecordBatch itself is new every time (its records come from the
// builder's arena): sarama keeps the encoded records in it and would send
// those again.
func (p *partitionProducer) recordBatch(j *partitionJob, recs []*translate.Record, bb *batchBuilder) *sarama.RecordBatch {
	now := time.Now().Truncate(time.Millisecond)
	rb := &sarama.RecordBatch{
		Version:          2,
		FirstTimestamp:   now,
		MaxTimestamp:     now,
		Codec:            p.conf.Producer.Compression,
		CompressionLevel: p.conf.Producer.CompressionLevel,
		ProducerID:       p.pid,
		ProducerEpoch:    p.epoch,
		FirstSequence:    -1,
		LastOffsetDelta:  int32(j.batch - 1),
		Records:          bb.batchRecords(recs, j.idx[j.next:j.next+j.batch]),
	}
	if p.idem {
		rb.FirstSequence = j.seq
	}
	return rb
}

// produce sends one request and records each job's result.
func (p *partitionProducer) produce(b *sarama.Broker, c *produceCall) {
	resp, err := b.Produce(c.req)
	if err != nil {
		// The connection is suspect: the next try opens a new one.
		_ = b.Close()
		for _, j := range c.jobs {
			j.result = err
		}
		return
	}
	for _, j := range c.jobs {
		if resp == nil { // required_acks 0: no answer comes
			j.result = nil
			continue
		}
		block := resp.GetBlock(j.tp.topic, j.tp.partition)
		switch {
		case block == nil:
			j.result = sarama.ErrIncompleteResponse
		case errors.Is(block.Err, sarama.ErrNoError), errors.Is(block.Err, sarama.ErrDuplicateSequenceNumber):
			j.result = nil // a duplicate: Kafka has this batch from an earlier try
		default:
			j.result = block.Err
		}
	}
}

// settle applies the job's last result to its batch; true when the topic's
// metadata should be refreshed before the next try.
func (p *partitionProducer) settle(j *partitionJob, recs []*translate.Record, outcomes []error) bool {
	err := j.result
	switch {
	case err == nil:
		for _, i := range j.idx[j.next : j.next+j.batch] {
			outcomes[i] = nil
		}
		if p.idem {
			j.st.seq += int32(j.batch)
		}
		j.next += j.batch
		j.batch, j.tries = 0, 0
		return false
	case isPermanent(err, p.conf.Metadata.AllowAutoTopicCreation):
		// Kafka refused the batch and wrote none of it: its records are
		// dropped (the exporter resyncs their threads), the partition
		// goes on with the same sequence.
		for _, i := range j.idx[j.next : j.next+j.batch] {
			outcomes[i] = err
		}
		j.next += j.batch
		j.batch, j.tries = 0, 0
		return false
	case retriableInPlace(err) && j.tries < p.conf.Producer.Retry.Max && !p.isClosed():
		j.tries++
		j.notBefore = time.Now().Add(p.backoff(j.tries))
		return true
	default:
		// Given up, or an answer that needs a new producer id: this batch
		// and everything after it fail (and are retried by the exporter,
		// in order); the batch's outcome is unknown, so this producer
		// sends nothing more to the partition.
		if p.idem {
			j.st.broken = fmt.Errorf("dashstream: an earlier batch of %s/%d failed: %w", j.tp.topic, j.tp.partition, err)
		}
		p.failRest(j, outcomes, err)
		return true
	}
}

// failRest fails every record of the job not settled yet.
func (p *partitionProducer) failRest(j *partitionJob, outcomes []error, err error) {
	for _, i := range j.idx[j.next:] {
		outcomes[i] = err
	}
	j.next, j.batch = len(j.idx), 0
}

func (p *partitionProducer) backoff(tries int) time.Duration {
	if f := p.conf.Producer.Retry.BackoffFunc; f != nil {
		return f(tries, p.conf.Producer.Retry.Max)
	}
	return p.conf.Producer.Retry.Backoff
}

// retriableInPlace: errors after which the same batch is tried again by this
// producer (a new leader, a slow or restarting broker). Anything else that
// is not permanent ends the attempt for the partition.
func retriableInPlace(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrNotConnected) ||
		errors.Is(err, sarama.ErrIncompleteResponse) || errors.Is(err, sarama.ErrBrokerNotAvailable) {
		return true
	}
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		// Connection errors that are not net.Errors (EOF, reset): the
		// batch is tried again on a new connection.
		return !errors.Is(err, sarama.ErrClosedClient)
	}
	switch kerr {
	case sarama.ErrUnknownTopicOrPartition, sarama.ErrLeaderNotAvailable, sarama.ErrNotLeaderForPartition,
		sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend,
		sarama.ErrKafkaStorageError, sarama.ErrNetworkException, sarama.ErrFencedLeaderEpoch,
		sarama.ErrUnknownLeaderEpoch, sarama.ErrOffsetNotAvailable, sarama.ErrBrokerNotAvailable:
		return true
	}
	return false
}

// producerRetries is how often one attempt tries a batch again in place.
const producerRetries = 10

// producerBackoff: 100 ms, doubling, at most 1 s.
func producerBackoff(tries, _ int) time.Duration {
	return min(100*time.Millisecond<<min(max(tries-1, 0), 4), time.Second)
}
