package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// connect opens a sarama client with the flags' settings.
func connect(k *kafkaFlags) (sarama.Client, error) {
	cfg, err := k.saramaConfig()
	if err != nil {
		return nil, usageError{err}
	}
	c, err := sarama.NewClient(k.brokerList(), cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", k.brokers, err)
	}
	return c, nil
}

// tailer turns records into lines.
type tailer struct {
	dec     *dashstream.Decoder
	filter  threadFilter
	st      style
	out     func(string)
	records bool // print recordLines instead of readable lines
	shown   int
	bad     int
	threads map[string]bool
}

// recordLine is what `tail --records` prints per record: where it is, its
// raw value and how it decodes (protojson, enums as numbers), for tools
// that check records byte by byte (internal/uiworker/check.mjs).
type recordLine struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       string          `json:"key"`
	Value     []byte          `json:"value"`
	Message   json.RawMessage `json:"message"`
}

func (t *tailer) add(r record) {
	msg, err := t.dec.Decode(r.Value)
	if err != nil {
		if !t.filter.match(string(r.Key)) {
			return
		}
		t.bad++
		t.out(t.st.paint(sgrRed, fmt.Sprintf("partition %d offset %d key %q: undecodable record (%d bytes): %v",
			r.Partition, r.Offset, r.Key, len(r.Value), err)))
		return
	}
	id := dashstream.HeaderOf(msg).GetThreadId()
	if !t.filter.match(id) {
		return
	}
	t.shown++
	t.threads[id] = true
	if !t.records {
		t.out(formatLine(msg, t.st))
		return
	}
	js, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(msg)
	if err == nil {
		var line []byte
		line, err = json.Marshal(recordLine{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: r.Value, Message: js})
		if err == nil {
			t.out(string(line))
			return
		}
	}
	t.bad++
	t.out(t.st.paint(sgrRed, fmt.Sprintf("partition %d offset %d: cannot print the record: %v", r.Partition, r.Offset, err)))
}

func runTail(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("dashstream tail", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var rf readFlags
	rf.register(fs, false, true)
	limit := fs.Int("max", 0, "stop after printing this many messages (0 = no limit)")
	records := fs.Bool("records", false, "print each record as a JSON line: partition, offset, key, value (base64) and the decoded message")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	st, err := rf.style(e.stdoutTTY, e.noColor)
	if err != nil {
		return err
	}
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		return err
	}
	client, err := connect(&rf.kafka)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &tailer{dec: dec, filter: rf.threads, st: st, threads: map[string]bool{}, records: *records,
		out: func(s string) { fmt.Fprintln(e.stdout, s) }}
	_, err = consumeTopic(ctx, client, rf.kafka.topic, consumeOptions{
		FromBeginning: rf.fromBeginning,
		Follow:        rf.follow,
		Idle:          rf.idle.d,
		OnError:       func(err error) { fmt.Fprintln(e.stderr, "dashstream tail:", err) },
	}, func(r record) {
		if *limit > 0 && t.shown >= *limit {
			return // records already buffered when the limit was hit
		}
		t.add(r)
		if *limit > 0 && t.shown >= *limit {
			cancel()
		}
	})
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%d message(s) of %d thread(s)", t.shown, len(t.threads))
	if t.bad > 0 {
		summary += fmt.Sprintf(", %d undecodable record(s)", t.bad)
	}
	fmt.Fprintln(e.stderr, "dashstream tail:", summary)
	return nil
}
