package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// record is one Kafka record as the subcommands see it.
type record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	// closed marks the end of a partition consumer that stopped on its own
	// (e.g. its offset fell out of range); it carries no record.
	closed bool
}

// consumeOptions say where reading starts and when it stops.
type consumeOptions struct {
	// FromBeginning starts at each partition's oldest offset, else at its end.
	FromBeginning bool
	// Start, when it has a partition, is the offset to start that partition
	// at instead (clamped to what the partition holds).
	Start map[int32]int64
	// OnCaughtUp is called once, from the handling goroutine, when every
	// partition has been read up to its end as it was at the start.
	OnCaughtUp func()
	// Follow keeps reading after the end until ctx ends.
	Follow bool
	// Idle: after the end, go on until no record arrived for this long.
	Idle time.Duration
	// Until: after the end, go on until it returns true (checked after
	// records and on a timer) or Wait has passed since the start.
	Until func() bool
	Wait  time.Duration
	// Progress, when set, is told the records read and the records that
	// were in the topic between the start and the end at the start.
	Progress func(done, total int64)
	// OnError is told about partition consumer errors, which do not stop
	// the reading.
	OnError func(error)
}

// consumeResult says how reading ended.
type consumeResult struct {
	Partitions int
	Records    int64
	// Backlog is how many records lay between the start and the end when
	// reading started.
	Backlog  int64
	TimedOut bool
}

// errTopicNotFound is returned when the topic does not exist.
var errTopicNotFound = errors.New("topic not found")

// partitionRange is one partition's span of offsets to read before the end.
type partitionRange struct {
	start, end int64 // end = high watermark when reading started
}

// consumeTopic reads every partition of topic and calls handle for each
// record, from one goroutine, in offset order within each partition (so in
// order within each thread: a thread lives in one partition).
func consumeTopic(ctx context.Context, client sarama.Client, topic string, o consumeOptions, handle func(record)) (consumeResult, error) {
	var res consumeResult
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return res, fmt.Errorf("%w: %q", errTopicNotFound, topic)
	}
	if err != nil {
		return res, fmt.Errorf("partitions of %q: %w", topic, err)
	}
	res.Partitions = len(parts)
	ranges := make(map[int32]partitionRange, len(parts))
	for _, p := range parts {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return res, fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
		}
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return res, fmt.Errorf("newest offset of %s/%d: %w", topic, p, err)
		}
		r := partitionRange{start: newest, end: newest}
		if o.FromBeginning {
			r.start = oldest
		}
		if s, ok := o.Start[p]; ok {
			r.start = min(max(s, oldest), newest)
		}
		ranges[p] = r
		res.Backlog += r.end - r.start
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return res, fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan record, 256)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, ranges[p].start)
		if err != nil {
			return res, fmt.Errorf("consume %s/%d from %d: %w", topic, p, ranges[p].start, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			if forward(ctx, pc, recs, o.OnError) {
				select {
				case recs <- record{Partition: p, closed: true}:
				case <-ctx.Done():
				}
			}
		}()
	}

	// next is the offset each partition will deliver next; a partition is
	// at its end when next reaches the end recorded for it.
	next := make(map[int32]int64, len(parts))
	for p, r := range ranges {
		next[p] = r.start
	}
	allAtEnd := func() bool {
		for p, r := range ranges {
			if next[p] < r.end {
				return false
			}
		}
		return true
	}
	// refreshEnds moves every partition's end to its current high
	// watermark, so what arrived while waiting is read too.
	refreshEnds := func() error {
		for p, r := range ranges {
			newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("newest offset of %s/%d: %w", topic, p, err)
			}
			r.end = max(r.end, newest)
			ranges[p] = r
		}
		return nil
	}
	started := time.Now()
	lastActivity := started
	drained := false
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var progressed int64
	caughtUp := o.OnCaughtUp == nil
	for {
		if !caughtUp && allAtEnd() {
			caughtUp = true
			o.OnCaughtUp()
		}
		if !o.Follow && allAtEnd() {
			untilOK := o.Until == nil || o.Until()
			if untilOK && o.Until != nil && !drained {
				// The awaited state is there: read up to the current end
				// once more, so the messages after it are included.
				drained = true
				if err := refreshEnds(); err != nil {
					return res, err
				}
				continue
			}
			idleOver := o.Idle <= 0 || time.Since(lastActivity) >= o.Idle
			if idleOver && untilOK {
				return res, nil
			}
			if !untilOK && o.Wait > 0 && time.Since(started) >= o.Wait {
				res.TimedOut = true
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-tick.C:
			if o.Progress != nil {
				o.Progress(progressed, res.Backlog)
			}
		case r := <-recs:
			if r.closed {
				// Nothing more will come from this partition: count it as
				// read to the end rather than wait for it forever.
				next[r.Partition] = max(next[r.Partition], ranges[r.Partition].end)
				continue
			}
			res.Records++
			lastActivity = time.Now()
			if r.Offset < ranges[r.Partition].end {
				progressed++
			}
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
			handle(r)
		}
	}
}

// forward copies a partition consumer's records and errors until ctx ends
// (false) or the consumer closes its message channel (true).
func forward(ctx context.Context, pc sarama.PartitionConsumer, out chan<- record, onError func(error)) bool {
	msgs, errs := pc.Messages(), pc.Errors()
	for {
		select {
		case <-ctx.Done():
			return false
		case m, ok := <-msgs:
			if !ok {
				return true
			}
			r := record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
			select {
			case out <- r:
			case <-ctx.Done():
				return false
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if onError != nil {
				onError(err)
			}
		}
	}
}
