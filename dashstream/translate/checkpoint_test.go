package translate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestAtomicCheckpoints: many goroutines translate state changes for one
// hot thread (and a few others) at once. Per thread, in translation order:
// exactly ⌊diffs/interval⌋ checkpoints, each right after its triggering
// diff and equal to the state after it, later diffs naming the newest one,
// sequences unique and gap-free.
func TestAtomicCheckpoints(t *testing.T) {
	const (
		goroutines = 16
		iterations = 120
		interval   = 7
	)
	cfg := DefaultConfig()
	cfg.CheckpointInterval = interval
	tr := newTestTranslator(t, cfg)

	var mu sync.Mutex
	streams := map[string][]Record{} // per thread, in translation order
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			run := fmt.Sprintf("run-%d", g)
			for i := 0; i < iterations; i++ {
				state := fmt.Sprintf(`{"goroutine":%d,"iteration":%d,"log":["g%d-i%d"]}`, g, i, g, i)
				spans := []sp{
					{trace: run, id: fmt.Sprintf("n%d", i), name: "work", start: int64(i * 10), end: int64(i*10 + 5),
						attrs: map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": "hot",
							"dashstream.run_id": run, "dashstream.step": i + 1, "dashstream.state": state}},
					{trace: run + "-cold", id: fmt.Sprintf("n%d", i), name: "work", start: int64(i * 10), end: int64(i*10 + 5),
						attrs: map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": fmt.Sprintf("cold-%d", g%3),
							"dashstream.run_id": run + "-cold", "dashstream.step": i + 1, "dashstream.state": state}},
				}
				res, err := tr.Translate(context.Background(), buildTraces(spans...))
				if err != nil {
					errs <- err
					return
				}
				// Still holding the threads' locks: this is the enqueue.
				mu.Lock()
				for _, rec := range res.Records {
					streams[rec.ThreadID] = append(streams[rec.ThreadID], rec)
				}
				mu.Unlock()
				res.Release()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(streams) != 4 {
		t.Fatalf("threads = %d, want 4", len(streams))
	}
	totalDiffs := 0
	for thread, recs := range streams {
		ds := decodeAll(t, recs)
		replayStream(t, ds, nil) // hashes, checksums, bases, state equality
		diffs, cps := 0, 0
		var lastCP []byte
		var lastState []byte
		for i, d := range ds {
			if i > 0 && recs[i].Sequence != recs[i-1].Sequence+1 {
				t.Fatalf("%s: sequence %d after %d (gap or duplicate)", thread, recs[i].Sequence, recs[i-1].Sequence)
			}
			switch m := d.msg.GetMessage().(type) {
			case *pb.DashStreamMessage_StateDiff:
				if !bytes.Equal(m.StateDiff.GetBaseCheckpointId(), lastCP) {
					t.Fatalf("%s record %d: base checkpoint %x, want newest %x", thread, i, m.StateDiff.GetBaseCheckpointId(), lastCP)
				}
				diffs++
				lastState = nil
				if diffs%interval == 0 {
					lastState = []byte("due")
				}
			case *pb.DashStreamMessage_Checkpoint:
				cps++
				if lastState == nil || kindOf(ds[i-1].msg) == "CHECKPOINT" {
					t.Fatalf("%s record %d: checkpoint not right after the %d-th diff", thread, i, cps*interval)
				}
				if cps*interval != diffs {
					t.Fatalf("%s record %d: checkpoint %d after %d diffs", thread, i, cps, diffs)
				}
				sum := sha256.Sum256(m.Checkpoint.GetState())
				if !bytes.Equal(sum[:], m.Checkpoint.GetChecksum()) {
					t.Fatalf("%s: checkpoint checksum mismatch", thread)
				}
				// The replayer checked it equals the replayed state; check it
				// is the state the previous diff produced, too.
				prev := ds[i-1].msg.GetStateDiff()
				st, err := dashstream.ParseJSON(m.Checkpoint.GetState())
				if err != nil {
					t.Fatal(err)
				}
				h := dashstream.StateHash(st)
				if !bytes.Equal(h[:], prev.GetStateHash()) {
					t.Fatalf("%s: checkpoint state is not the state after its triggering diff", thread)
				}
				lastCP = m.Checkpoint.GetCheckpointId()
				lastState = nil
			}
		}
		if cps != diffs/interval {
			t.Errorf("%s: %d checkpoints for %d diffs, want %d", thread, cps, diffs, diffs/interval)
		}
		totalDiffs += diffs
	}
	if hot := countType(streams["hot"], pb.MessageType_MESSAGE_TYPE_STATE_DIFF); hot != goroutines*iterations {
		t.Errorf("hot thread diffs = %d, want %d (every snapshot differs)", hot, goroutines*iterations)
	}
	if totalDiffs < 2000 {
		t.Errorf("only %d diffs in all", totalDiffs)
	}
}

func countType(recs []Record, typ pb.MessageType) int {
	n := 0
	for _, r := range recs {
		if r.Type == typ {
			n++
		}
	}
	return n
}
