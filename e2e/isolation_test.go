package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Isolation of bad groups, three runs of the same paced traffic through
// one worker each: without bad traffic (the baseline), with the two
// busiest groups answered 660300006 (at their group limit) for 30 s, and
// with the next two answered "busy" (code 1) for as long as traffic lasts
// under a small pending bound and a short worker.isolated_failure_max_age.
// Each logs how long the other groups' receipts took beside the baseline.
//
// A group at its limit is backed off alone: no app-level rate limit is
// hit, the action's rate is not halved, the group is called a handful of
// times, nothing is dead-lettered. Busy groups' keys fail alone: their
// records are dead-lettered as exhausted with code 1 (or delivered, once
// the groups answer again), never fill the pending bound, and nothing else
// is dead-lettered.
func TestGroupIsolation(t *testing.T) {
	needBroker(t)
	_, seed := testRand(t)
	const (
		perTick    = 15 // events every tick: 150/s
		tick       = 100 * time.Millisecond
		events     = 5250 // 35 s of traffic
		rps        = 100  // per action: the budget, not the pipeline, sets the pace at bursts
		limitFor   = 30 * time.Second
		maxPending = 200
		maxAge     = 10 * time.Second
	)
	w := newWorkload(t, cleanTraffic(seed), events)
	busiest := traffic.BusiestGroups(w.records, 4)
	limited, busy := busiest[:2], busiest[2:]
	t.Logf("groups at their limit: %s (%d records); busy groups: %s (%d records) of %d",
		strings.Join(limited, ","), traffic.RecordsAbout(w.records, limited), strings.Join(busy, ","), traffic.RecordsAbout(w.records, busy), events)
	// The default pending bound for the baseline and the group limit: a
	// group's held records wait within the bound (they are never
	// dead-lettered), and these groups' 30 s of traffic would fill a
	// small one. The busy groups get the small bound they must not fill.
	env := map[string]string{"RECEIPTD_WORKER_BACKOFF_MAX": "5s"}
	busyEnv := map[string]string{
		"RECEIPTD_WORKER_BACKOFF_MAX":              "5s",
		"RECEIPTD_WORKER_MAX_PENDING_RECORDS":      strconv.Itoa(maxPending),
		"RECEIPTD_WORKER_ISOLATED_FAILURE_MAX_AGE": maxAge.String(),
	}
	bad := append(slices.Clone(limited), busy...)
	run := func(t *testing.T, env map[string]string, trouble func(t *testing.T, z *zimFake)) isolationRun {
		b := newBroker(t)
		n := b.newTopics(t)
		z := startZimfake(t, zimOptions{RPS: rps})
		p := startWorker(t, "worker", n, z, rps, env)
		p.waitJoined(t, 1, joinTimeout)
		ctx, cancel := context.WithCancel(context.Background())
		began := time.Now()
		waitProduced := b.producePaced(ctx, n.Source, w.records, perTick, tick)
		t.Cleanup(func() {
			cancel()
			_ = waitProduced()
		})
		trouble(t, z)
		if err := waitProduced(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		waitCaughtUp(t, b, n, z, 3*time.Minute)
		r := isolationRun{lat: otherGroupsLatency(t, z, w, bad, began, perTick, tick), stats: z.stats(t), proc: p}
		r.letters = b.readAll(t, n.DLQ, dlqPartitions)
		r.delivered = make(map[traffic.Receipt]bool)
		for _, d := range z.receipts(t) {
			r.delivered[traffic.Receipt{Action: d.Action, UserID: d.UserID, ConvID: d.ConvID, Seq: d.Seq}] = true
		}
		stopWorker(t, p, 30*time.Second)
		return r
	}

	var base isolationRun
	t.Run("baseline", func(t *testing.T) {
		base = run(t, env, func(*testing.T, *zimFake) {})
		checkNoDeadLetters(t, base.letters)
		t.Logf("FIGURES %s: other groups' receipts p50=%s p99=%s last=%s %s", t.Name(),
			base.lat.p50, base.lat.p99, base.lat.max, summarizeCalls(base.stats))
	})

	t.Run("two groups at their limit for 30s", func(t *testing.T) {
		r := run(t, env, func(t *testing.T, z *zimFake) {
			for _, g := range limited {
				z.groupLimit(t, g, 0, limitFor)
			}
		})
		checkNoDeadLetters(t, r.letters)
		st := r.stats
		// Held batches released together leave at once while the window is
		// under half full, each holding its place 50ms past the window, and
		// then in the slots: the budget keeps every second of ZIM's within
		// the limit as long as calls reach it within those margins, so
		// 660300005 stays within the project's 0.5 % (none in most runs)
		// on a machine shared with the broker.
		if share := float64(st.RateLimited) / float64(max(st.Calls, 1)); share > 0.005 {
			t.Errorf("%d of %d calls (%.2f%%) answered 660300005, want at most 0.5%%", st.RateLimited, st.Calls, 100*share)
		}
		if st.GroupRateLimited == 0 {
			t.Error("no call answered 660300006: the limit was never met")
		}
		// One backoff per group, with a probe after each hold: a handful
		// of calls per group in 30 s, not one per reader and retry.
		if perGroup := float64(st.GroupRateLimited) / float64(len(limited)); perGroup > 20 {
			t.Errorf("%.1f calls answered 660300006 per limited group in %s, want a handful", perGroup, limitFor)
		}
		paused := r.proc.stderr.matching(func(l logLine) bool {
			return int64(number(l.Fields["code"])) == zimfake.CodeGroupRateLimited && l.Fields["rate_limit_pause"] != nil
		})
		if len(paused) != 0 {
			t.Errorf("%d answers 660300006 paused every action and slowed its rate: %s", len(paused), paused[0].Raw)
		}
		t.Logf("FIGURES %s: other groups' receipts p50=%s p99=%s last=%s (baseline p50=%s p99=%s last=%s, last x%.2f) group_rate_limited=%d %s",
			t.Name(), r.lat.p50, r.lat.p99, r.lat.max, base.lat.p50, base.lat.p99, base.lat.max,
			ratio(r.lat.max, base.lat.max), st.GroupRateLimited, summarizeCalls(st))
	})

	t.Run("two groups busy under a small pending bound", func(t *testing.T) {
		r := run(t, busyEnv, func(t *testing.T, z *zimFake) {
			for _, g := range busy {
				z.busy(t, g, time.Duration(events/perTick)*tick)
			}
		})
		exhausted := checkBusyDeadLetters(t, r, w, busy)
		if exhausted == 0 {
			t.Error("no record of the busy groups was dead-lettered: their keys held the pending bound")
		}
		if n := r.proc.stderr.count(msgFailingAlone); n == 0 {
			t.Error("no log line about keys failing alone")
		}
		t.Logf("FIGURES %s: other groups' receipts p50=%s p99=%s last=%s (baseline p50=%s p99=%s last=%s, last x%.2f) busy_records=%d dead_lettered_exhausted=%d max_pending=%d max_age=%s %s",
			t.Name(), r.lat.p50, r.lat.p99, r.lat.max, base.lat.p50, base.lat.p99, base.lat.max,
			ratio(r.lat.max, base.lat.max), traffic.RecordsAbout(w.records, busy), exhausted, maxPending, maxAge, summarizeCalls(r.stats))
	})
}

// msgFailingAlone is the warning about a key failing alone.
const msgFailingAlone = "key failing alone: its calls keep failing while other keys succeed; its records are dead-lettered if it goes on"

// isolationRun is what one run of TestGroupIsolation left.
type isolationRun struct {
	lat       latencies
	stats     zimfake.Stats
	proc      *process
	letters   [][]kafka.Message
	delivered map[traffic.Receipt]bool // distinct receipts at zimfake
}

type latencies struct{ p50, p99, max time.Duration }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// otherGroupsLatency returns, for the receipts of every record that is not
// about one of bad, the time from the record's place in the paced
// production (perTick records every tick from began) to zimfake's first
// acceptance of the receipt. It fails t for such a receipt never accepted.
func otherGroupsLatency(t *testing.T, z *zimFake, w *workload, bad []string, began time.Time, perTick int, tick time.Duration) latencies {
	t.Helper()
	due := make(map[traffic.Receipt]time.Time)
	for i, r := range w.records {
		ev := w.byValue[string(r.Value)].event
		if slices.Contains(bad, ev.GroupID) {
			continue
		}
		at := began.Add(time.Duration(i/perTick) * tick)
		for _, rc := range receiptsOf(ev) {
			if _, seen := due[rc]; !seen {
				due[rc] = at
			}
		}
	}
	var lat []time.Duration
	for _, a := range z.acceptances(t) {
		k := traffic.Receipt{Action: a.Action, UserID: a.UserID, ConvID: a.ConvID, Seq: a.Seq}
		if at, ok := due[k]; ok {
			lat = append(lat, a.At.Sub(at))
			delete(due, k)
		}
	}
	if len(due) > 0 {
		t.Errorf("%d receipts of other groups never reached zimfake", len(due))
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return latencies{}
	}
	q := func(f float64) time.Duration {
		return lat[min(len(lat)-1, int(f*float64(len(lat))))].Round(10 * time.Millisecond)
	}
	return latencies{p50: q(0.5), p99: q(0.99), max: lat[len(lat)-1].Round(10 * time.Millisecond)}
}

// checkNoDeadLetters fails t for any dead letter: clean traffic and rate
// limits dead-letter nothing.
func checkNoDeadLetters(t *testing.T, letters [][]kafka.Message) {
	t.Helper()
	for _, msgs := range letters {
		for _, m := range msgs {
			info, _ := deadletter.Parse(m)
			t.Errorf("dead letter of %s %d@%d: class %s code %d: %s", info.SourceTopic, info.SourcePartition, info.SourceOffset,
				info.Class, info.Code, info.Message)
		}
	}
}

// checkBusyDeadLetters fails t unless every dead letter is a record about
// one of the busy groups, class exhausted with code 1, once; and every
// record about a busy group is either dead-lettered or has its receipts
// at zimfake. It returns the number of dead letters.
func checkBusyDeadLetters(t *testing.T, r isolationRun, w *workload, busy []string) int {
	t.Helper()
	dead := make(map[string]bool) // by value: the traffic's values are unique but for client retries
	n := 0
	for _, msgs := range r.letters {
		for _, m := range msgs {
			n++
			info, err := deadletter.Parse(m)
			if err != nil {
				t.Errorf("dead letter: %v", err)
				continue
			}
			ev := w.byValue[string(m.Value)].event
			c := coord{info.SourcePartition, info.SourceOffset}
			if !slices.Contains(busy, ev.GroupID) || info.Class != worker.FailExhausted || info.Code != zimfake.CodeBusy {
				t.Errorf("dead letter of %s (group %q): class %s code %d; want only busy groups' records, exhausted with code 1",
					c, ev.GroupID, info.Class, info.Code)
			}
			dead[string(m.Value)] = true
		}
	}
	lost := 0
	for _, rec := range w.records {
		ev := w.byValue[string(rec.Value)].event
		if !slices.Contains(busy, ev.GroupID) || dead[string(rec.Value)] {
			continue
		}
		for _, rc := range receiptsOf(ev) {
			if !r.delivered[rc] {
				lost++
				break
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d records of the busy groups were neither dead-lettered nor delivered", lost)
	}
	return n
}

// groupLimit gives group a limit of its own at zimfake: rps requests in
// any second (0: none) for d.
func (z *zimFake) groupLimit(t *testing.T, group string, rps float64, d time.Duration) {
	t.Helper()
	z.do(t, http.MethodPost, fmt.Sprintf("group-limit?group=%s&rps=%v&for=%s", group, rps, d)).Close()
}

// busy makes zimfake answer group's receipts "busy" for d.
func (z *zimFake) busy(t *testing.T, group string, d time.Duration) {
	t.Helper()
	z.do(t, http.MethodPost, fmt.Sprintf("busy?group=%s&for=%s", group, d)).Close()
}

// acceptances returns every receipt zimfake accepted, in order, with its
// time.
func (z *zimFake) acceptances(t *testing.T) []zimfake.Receipt {
	t.Helper()
	return jsonLines[zimfake.Receipt](t, z, "receipts?each=true")
}
