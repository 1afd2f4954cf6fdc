package traffic_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
)

func TestSameSeedSameRecords(t *testing.T) {
	cfg := traffic.DefaultConfig()
	cfg.MalformedFraction = 0.05
	a := generate(t, cfg, 20000)
	b := generate(t, cfg, 20000)
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("record %d differs between two runs of seed %d:\n%+v\n%+v", i, cfg.Seed, a[i], b[i])
		}
	}

	cfg.Seed++
	c := generate(t, cfg, 1000)
	same := 0
	for i := range c {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > 10 {
		t.Errorf("seeds %d and %d share %d of the first 1000 values; want different traffic", cfg.Seed-1, cfg.Seed, same)
	}
}

func TestMixMatchesConfig(t *testing.T) {
	const n = 100000
	cfg := traffic.DefaultConfig()
	cfg.C2CFraction = 0.3
	cfg.DeliveryFraction = 0.2
	cfg.DuplicateFraction = 0.05
	cfg.MalformedFraction = 0.04
	cfg.FailingFraction = 0.02
	recs := generate(t, cfg, n)
	repeat := repeats(recs)

	var malformed, duplicates, failing, valid, c2c, delivery int
	for i, r := range recs {
		switch {
		case r.Malformed:
			malformed++
			continue
		case repeat[i]:
			duplicates++
		case failingRecord(cfg, r):
			failing++
		}
		valid++
		if strings.HasPrefix(r.Event.Type, "c2c_") {
			c2c++
		}
		if strings.HasSuffix(r.Event.Type, "_delivered") {
			delivery++
		}
	}
	for _, tc := range []struct {
		name      string
		count, of int
		want      float64
	}{
		{"malformed share of records", malformed, n, cfg.MalformedFraction},
		{"duplicate share of records", duplicates, n, cfg.DuplicateFraction},
		{"failing share of records", failing, n, cfg.FailingFraction},
		{"c2c share of valid events", c2c, valid, cfg.C2CFraction},
		{"delivery share of valid events", delivery, valid, cfg.DeliveryFraction},
	} {
		got := float64(tc.count) / float64(tc.of)
		// Five standard deviations of a binomial share: a wrong mix fails,
		// sampling noise does not.
		tol := 5 * math.Sqrt(tc.want*(1-tc.want)/float64(tc.of))
		if math.Abs(got-tc.want) > tol {
			t.Errorf("%s = %.4f (%d of %d), want %.4f ± %.4f", tc.name, got, tc.count, tc.of, tc.want, tol)
		}
	}
}

func TestZeroFractionsGiveOnlyGroupReads(t *testing.T) {
	recs := generate(t, traffic.Config{Seed: 7, Users: 50, Groups: 5}, 5000)
	repeat := repeats(recs)
	for i, r := range recs {
		if r.Malformed || repeat[i] || r.Event.Type != traffic.TypeGroupRead {
			t.Fatalf("record %d = %s (malformed %v, repeat %v); want only fresh group_read events", i, r.Value, r.Malformed, repeat[i])
		}
	}
}

// Per (type, user, conversation), a client reports what it has read in
// order, so each new event starts after the previous one ended; only
// client retries repeat seqs.
func TestSeqsIncreasePerConversation(t *testing.T) {
	cfg := traffic.DefaultConfig()
	cfg.DuplicateFraction = 0.05
	cfg.FailingFraction = 0.01
	recs := generate(t, cfg, 100000)
	repeat := repeats(recs)

	last := make(map[convKey]uint64)
	events := make(map[convKey]int)
	var repeated int
	for i, r := range wellFormed(recs) {
		if repeat[i] {
			repeated++
			continue
		}
		seqs := r.Event.Seqs
		if len(seqs) == 0 || len(seqs) > cfg.MaxSeqsPerEvent {
			t.Fatalf("record %d has %d seqs, want 1..%d: %s", i, len(seqs), cfg.MaxSeqsPerEvent, r.Value)
		}
		for j := 1; j < len(seqs); j++ {
			if seqs[j] != seqs[j-1]+1 {
				t.Fatalf("record %d: seqs %v are not consecutive", i, seqs)
			}
		}
		k := keyOf(r.Event)
		if prev, ok := last[k]; ok && seqs[0] <= prev {
			t.Fatalf("record %d: %v starts at or below %d, already reported for %+v", i, seqs, prev, k)
		}
		last[k] = seqs[len(seqs)-1]
		events[k]++
	}
	if repeated == 0 {
		t.Error("no client retry repeated an event")
	}
	// Coalescing needs several events per conversation.
	multi := 0
	for _, n := range events {
		if n > 1 {
			multi++
		}
	}
	if share := float64(multi) / float64(len(events)); share < 0.3 {
		t.Errorf("%.2f of conversations have more than one event; want at least 0.3 so that coalescing matters", share)
	}
}

// Some users and groups are far more active than others.
func TestPopularityIsSkewed(t *testing.T) {
	cfg := traffic.DefaultConfig()
	recs := generate(t, cfg, 100000)
	byUser := make(map[string]int)
	byGroup := make(map[string]int)
	var groupEvents int
	for _, r := range wellFormed(recs) {
		byUser[r.Event.UserID]++
		if r.Event.GroupID != "" {
			byGroup[r.Event.GroupID]++
			groupEvents++
		}
	}
	topShare := func(counts map[string]int, top, total int) float64 {
		vs := make([]int, 0, len(counts))
		for _, v := range counts {
			vs = append(vs, v)
		}
		slices.Sort(vs)
		slices.Reverse(vs)
		sum := 0
		for _, v := range vs[:min(top, len(vs))] {
			sum += v
		}
		return float64(sum) / float64(total)
	}
	// Uniform activity would give the top 1% of users 1% of the events.
	if got := topShare(byUser, cfg.Users/100, len(recs)); got < 0.2 {
		t.Errorf("top 1%% of users send %.3f of events; want at least 0.2", got)
	}
	if got := topShare(byGroup, cfg.Groups/100, groupEvents); got < 0.1 {
		t.Errorf("top 1%% of groups get %.3f of group events; want at least 0.1", got)
	}
}

// wireEvent is the input event (docs/architecture.md) as a chat backend
// would declare it.
type wireEvent struct {
	Type       string `json:"type"`
	UserID     string `json:"user_id"`
	GroupID    string `json:"group_id,omitempty"`
	ConvID     string `json:"conv_id,omitempty"`
	ConvMsgSeq any    `json:"conv_msg_seq"`
	ReadAt     int64  `json:"read_at"`
}

func TestValidRecordsAreWhatABackendSends(t *testing.T) {
	cfg := traffic.DefaultConfig()
	cfg.MaxSeqsPerEvent = 10
	recs := generate(t, cfg, 20000)
	repeat := repeats(recs)
	var scalars, arrays int
	for i, r := range recs {
		if r.Malformed {
			if r.Flaw == traffic.FlawNone || !reflect.DeepEqual(r.Event, traffic.Event{}) {
				t.Fatalf("malformed record %d has flaw %v and event %+v; want a flaw and a zero event", i, r.Flaw, r.Event)
			}
			continue
		}
		var got struct {
			wireEvent
			ConvMsgSeq json.RawMessage `json:"conv_msg_seq"`
		}
		dec := json.NewDecoder(bytes.NewReader(r.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("record %d: %s: %v", i, r.Value, err)
		}
		var seqs []uint64
		if err := json.Unmarshal(got.ConvMsgSeq, &seqs); err == nil {
			arrays++
		} else {
			var one uint64
			if err := json.Unmarshal(got.ConvMsgSeq, &one); err != nil {
				t.Fatalf("record %d: conv_msg_seq %s is neither an integer nor an array of integers", i, got.ConvMsgSeq)
			}
			seqs = []uint64{one}
			scalars++
		}
		e := r.Event
		want := traffic.Event{Type: got.Type, UserID: got.UserID, GroupID: got.GroupID, ConvID: got.ConvID,
			Seqs: seqs, ReadAt: time.UnixMilli(got.ReadAt)}
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("record %d: Event = %+v, but the value %s says %+v", i, e, r.Value, want)
		}
		// A retry repeats the original's read_at.
		if !repeat[i] && e.ReadAt.UnixMilli() != epoch.Add(time.Duration(i)*time.Millisecond).UnixMilli() {
			t.Fatalf("record %d: read_at %d is not the time passed to Next", i, got.ReadAt)
		}

		// Byte for byte what encoding/json makes of the backend's struct.
		w := wireEvent{Type: e.Type, UserID: e.UserID, GroupID: e.GroupID, ConvID: e.ConvID, ReadAt: got.ReadAt, ConvMsgSeq: seqs}
		if scalar := got.ConvMsgSeq[0] != '['; scalar {
			w.ConvMsgSeq = seqs[0]
		}
		marshaled, _ := json.Marshal(w)
		if !bytes.Equal(marshaled, r.Value) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, r.Value, marshaled)
		}

		wantKey := e.GroupID
		if strings.HasPrefix(e.Type, "c2c_") {
			wantKey = e.UserID
		}
		if string(r.Key) != wantKey {
			t.Fatalf("record %d (%s): key %q, want %q", i, e.Type, r.Key, wantKey)
		}
	}
	if scalars == 0 || arrays == 0 {
		t.Errorf("conv_msg_seq as integer %d times, as array %d times; want both forms", scalars, arrays)
	}
}

// A failing id from the configuration is JSON-escaped like any id.
func TestFailingIDsAreEscaped(t *testing.T) {
	cfg := traffic.Config{Seed: 3, Users: 20, Groups: 4, C2CFraction: 0.5, FailingFraction: 0.5,
		FailingGroups: []string{`team "<b>" é`}, FailingUsers: []string{`bob\left`}}
	recs := generate(t, cfg, 2000)
	seen := map[string]bool{}
	for _, r := range recs {
		if !failingRecord(cfg, r) {
			continue
		}
		var w wireEvent
		if err := json.Unmarshal(r.Value, &w); err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		seen[w.GroupID+w.ConvID] = true
	}
	for _, id := range append(cfg.FailingGroups, cfg.FailingUsers...) {
		if !seen[id] {
			t.Errorf("no record decodes to failing id %q", id)
		}
	}
}

func TestRecordsDoNotShareMemory(t *testing.T) {
	g, err := traffic.New(traffic.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := g.Next(epoch)
	want := string(r.Value)
	r.Key = append(r.Key, "more"...) // must not write into Value
	clear(r.Event.Seqs)
	for range 1000 {
		g.Next(epoch)
	}
	if string(r.Value) != want {
		t.Errorf("value changed to %s, want %s", r.Value, want)
	}
}

func TestReadAtBeforeEpochIsZero(t *testing.T) {
	g, err := traffic.New(traffic.Config{Seed: 1, Users: 2, Groups: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := g.Next(time.Time{})
	if !bytes.HasSuffix(r.Value, []byte(`"read_at":0}`)) {
		t.Errorf("value %s, want read_at 0", r.Value)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		give func(*traffic.Config)
		want []string // substrings of the error; none means valid
	}{
		{"default", func(*traffic.Config) {}, nil},
		{"zero sizes take defaults", func(c *traffic.Config) { c.Users, c.Groups, c.MaxSeqsPerEvent = 0, 0, 0 }, nil},
		{"smallest world", func(c *traffic.Config) { c.Users, c.Groups, c.MaxSeqsPerEvent = 2, 1, 1 }, nil},
		{"one user", func(c *traffic.Config) { c.Users = 1 }, []string{"users 1"}},
		{"negative sizes", func(c *traffic.Config) { c.Users, c.Groups, c.MaxSeqsPerEvent = -1, -1, -1 },
			[]string{"users -1", "groups -1", "max seqs per event -1"}},
		{"too many seqs", func(c *traffic.Config) { c.MaxSeqsPerEvent = 1001 }, []string{"max seqs per event 1001"}},
		{"fractions out of range", func(c *traffic.Config) {
			c.C2CFraction, c.DeliveryFraction, c.DuplicateFraction = -0.1, 1.5, math.NaN()
		}, []string{"c2c fraction -0.1", "delivery fraction 1.5", "duplicate fraction NaN"}},
		{"shares above one", func(c *traffic.Config) { c.DuplicateFraction, c.MalformedFraction, c.FailingFraction = 0.5, 0.4, 0.2 },
			[]string{"add up to 1.1"}},
		{"failing without ids", func(c *traffic.Config) { c.FailingGroups, c.FailingUsers = nil, nil }, []string{"failing fraction 0.001"}},
		{"failing ids ZIM would never see", func(c *traffic.Config) {
			c.FailingGroups = []string{"", "a\nb"}
			c.FailingUsers = []string{strings.Repeat("u", 129)}
		}, []string{`failing group ""`, "control character", "129 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := traffic.DefaultConfig()
			tc.give(&cfg)
			err := cfg.Validate()
			_, newErr := traffic.New(cfg)
			if len(tc.want) == 0 {
				if err != nil || newErr != nil {
					t.Fatalf("Validate = %v, New = %v; want both nil", err, newErr)
				}
				return
			}
			if err == nil || newErr == nil {
				t.Fatalf("Validate = %v, New = %v; want errors", err, newErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A world with two users and one group keeps producing: conversations
// being read block only themselves.
func TestTinyWorld(t *testing.T) {
	cfg := traffic.DefaultConfig()
	cfg.Users, cfg.Groups = 2, 1
	cfg.DuplicateFraction, cfg.MalformedFraction, cfg.FailingFraction = 0.1, 0.1, 0.1
	recs := generate(t, cfg, 20000)
	types := make(map[string]int)
	for _, r := range recs {
		types[r.Event.Type]++
	}
	for _, typ := range []string{traffic.TypeGroupRead, traffic.TypeC2CRead, traffic.TypeGroupDelivered, traffic.TypeC2CDelivered} {
		if types[typ] < 1000 {
			t.Errorf("%d %s events of 20000, want at least 1000", types[typ], typ)
		}
	}
}
