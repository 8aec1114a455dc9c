package kafka

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"golang.org/x/time/rate"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
	"github.com/wakefn/wake/eventing/pace"
)

// limitedSink is a function that refuses (429) above its capacity, and
// counts by second what it took and refused.
type limitedSink struct {
	*httptest.Server
	lim *rate.Limiter

	mu      sync.Mutex
	start   time.Time
	took    []int // by second since the first request
	refused []int
	ids     map[string]bool
}

func newLimitedSink(t *testing.T, perSecond float64) *limitedSink {
	s := &limitedSink{lim: rate.NewLimiter(rate.Limit(perSecond), 10), ids: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := s.lim.Allow()
		s.mu.Lock()
		now := time.Now()
		if s.start.IsZero() {
			s.start = now
		}
		sec := int(now.Sub(s.start) / time.Second)
		for len(s.took) <= sec {
			s.took, s.refused = append(s.took, 0), append(s.refused, 0)
		}
		if ok {
			s.took[sec]++
			s.ids[r.Header.Get("Ce-Id")] = true
		} else {
			s.refused[sec]++
		}
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *limitedSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// A trigger with no rate limit, keyed ordering (many deliveries in flight)
// and a sink that takes 500 events a second: wake finds the sink's rate by
// itself. Once settled (10s), under 1% of attempts are refused; no event
// is dead-lettered or failed for the refusals, none is lost.
func TestPacedToASinkThatRefusesAboveItsCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 20s of real time")
	}
	const parts, perPart, capacity = 8, 800, 500
	c := newCluster(t, parts, "orders")
	c.produce("orders", parts, perPart, func(i int) string { return strconv.Itoa(i % 64) })
	sink := newLimitedSink(t, capacity)
	dls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("event %s dead-lettered", r.Header.Get("Ce-Id"))
	}))
	defer dls.Close()

	pacer := pace.New(0, nil)
	d, err := delivery.New(delivery.Spec{Retry: 5, BackoffDelay: "PT0.2S", DeadLetterSink: dls.URL},
		delivery.Options{Throttle: pacer})
	if err != nil {
		t.Fatal(err)
	}
	var failed sync.Map
	cfg := c.config(t, "paced", func(ctx context.Context, e event.Event) delivery.Result {
		res := d.Deliver(ctx, sink.URL, e)
		if res.Outcome == delivery.Failed || res.Outcome == delivery.DeadLettered {
			failed.Store(e.ID(), res.Outcome)
		}
		return res
	}, "orders")
	cfg.Ordering, cfg.Pacer = api.OrderingKey, pacer
	consumer, stop := start(t, cfg)

	deadline := time.Now().Add(90 * time.Second)
	for sink.distinct() < parts*perPart {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered after 90s", sink.distinct(), parts*perPart)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	failed.Range(func(id, outcome any) bool {
		t.Errorf("event %v ended %v", id, outcome)
		return true
	})

	sink.mu.Lock()
	defer sink.mu.Unlock()
	var took, refused, settledTook, settledRefused int
	for sec := range sink.took {
		took, refused = took+sink.took[sec], refused+sink.refused[sec]
		if sec >= 10 {
			settledTook, settledRefused = settledTook+sink.took[sec], settledRefused+sink.refused[sec]
		}
	}
	t.Logf("%d events in %ds: %d attempts refused in all (%.1f%%), %d of %d after 10s (%.2f%%); pace now %+v",
		took, len(sink.took), refused, 100*float64(refused)/float64(took+refused),
		settledRefused, settledTook+settledRefused, 100*float64(settledRefused)/float64(max(1, settledTook+settledRefused)),
		consumer.Stats().Pace)
	if settledTook+settledRefused == 0 {
		t.Fatal("delivery ended before it settled: make the test longer")
	}
	if share := float64(settledRefused) / float64(settledTook+settledRefused); share > 0.01 {
		t.Errorf("once settled, %.2f%% of attempts were refused, want <= 1%%", 100*share)
	}
}
