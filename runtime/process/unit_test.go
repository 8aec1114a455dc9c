package process

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	api "github.com/wakefn/wake/api/v1"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute},
		{1000, time.Minute},
	} {
		if got := backoff(tc.failures); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestNextFailures(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name       string
		prev       int
		last, now  time.Time
		readySince []time.Time
		want       int
	}{
		{"first failure", 0, time.Time{}, at(0), nil, 1},
		{"consecutive", 3, at(0), at(5), []time.Time{{}}, 4},
		{"ready less than 30s", 3, at(0), at(40), []time.Time{at(20)}, 4},
		{"ready 30s since the last failure", 3, at(0), at(40), []time.Time{at(5)}, 1},
		{"ready 30s but before the last failure", 3, at(100), at(105), []time.Time{at(5)}, 4},
		{"another instance stable", 5, at(10), at(50), []time.Time{{}, at(11)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextFailures(tc.prev, tc.last, tc.now, tc.readySince); got != tc.want {
				t.Errorf("nextFailures = %d, want %d", got, tc.want)
			}
		})
	}
}

// timerClock is a fake clock that tells the test about every timer set.
type timerClock struct {
	*testingclock.FakeClock
	timers chan time.Duration
}

func (c *timerClock) NewTimer(d time.Duration) clock.Timer {
	tm := c.FakeClock.NewTimer(d)
	c.timers <- d
	return tm
}

func TestProberSchedule(t *testing.T) {
	spec := probeSpec{initialDelay: 2 * time.Second, period: 10 * time.Second, timeout: time.Second, success: 2, failure: 3}
	// Each step: the timer the prober sets, the check's result, and the
	// transition it reports (nil for none).
	yes, no := true, false
	steps := []struct {
		timer  time.Duration
		pass   bool
		report *bool
	}{
		{2 * time.Second, false, nil}, // initial delay
		{startingPeriod, true, nil},   // fast while starting
		{startingPeriod, false, nil},  // successes must be consecutive
		{startingPeriod, true, nil},
		{startingPeriod, true, &yes}, // 2 in a row: ready
		{10 * time.Second, false, nil},
		{10 * time.Second, false, nil},
		{10 * time.Second, false, &no}, // 3 in a row: unready
		{10 * time.Second, true, nil},  // period stays slow once ever ready
		{10 * time.Second, true, &yes},
	}
	clk := &timerClock{FakeClock: testingclock.NewFakeClock(time.Now()), timers: make(chan time.Duration)}
	results := make(chan bool, 1)
	check := func(context.Context) error {
		if <-results {
			return nil
		}
		return errors.New("fail")
	}
	p := newProber(clk, spec, check)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan bool)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx, out)
	}()
	for i, st := range steps {
		if got := <-clk.timers; got != st.timer {
			t.Fatalf("step %d: timer %v, want %v", i, got, st.timer)
		}
		results <- st.pass
		clk.Step(st.timer)
		if st.report != nil {
			if got := <-out; got != *st.report {
				t.Fatalf("step %d: reported ready=%v, want %v", i, got, *st.report)
			}
		}
	}
	<-clk.timers
	cancel()
	<-done
}

func TestProberWithoutInitialDelayChecksAtOnce(t *testing.T) {
	clk := &timerClock{FakeClock: testingclock.NewFakeClock(time.Now()), timers: make(chan time.Duration, 1)}
	p := newProber(clk, newProbeSpec(nil), func(context.Context) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan bool)
	go p.run(ctx, out)
	if !<-out {
		t.Fatal("reported not ready")
	}
	if d := <-clk.timers; d != api.DefaultProbePeriodSeconds*time.Second {
		t.Errorf("next probe in %v, want the default period", d)
	}
}

func TestHTTPCheck(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		code := status
		mu.Unlock()
		w.WriteHeader(code)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	spec := newProbeSpec(&api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{
		Path:        "healthz?deep=1",
		HTTPHeaders: []api.HTTPHeader{{Name: "Host", Value: "fn.example"}, {Name: "x-a", Value: "1"}, {Name: "X-A", Value: "2"}, {Name: "User-Agent", Value: "mine"}},
	}}})
	check := newCheck(newProbeClient(), spec, "127.0.0.1", port)
	for _, tc := range []struct {
		status int
		pass   bool
	}{
		{200, true}, {204, true}, {302, true}, {399, true}, {400, false}, {503, false},
	} {
		mu.Lock()
		status = tc.status
		mu.Unlock()
		if err := check(context.Background()); (err == nil) != tc.pass {
			t.Errorf("status %d: check = %v, want pass %v", tc.status, err, tc.pass)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got.URL.Path != "/healthz" || got.URL.RawQuery != "deep=1" || got.Host != "fn.example" ||
		!cmp.Equal(got.Header.Values("X-A"), []string{"1", "2"}) || got.UserAgent() != "mine" {
		t.Errorf("probe request %s %s host=%s headers=%v", got.Method, got.URL, got.Host, got.Header)
	}
}

func TestTCPCheck(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	check := newCheck(newProbeClient(), newProbeSpec(&api.Probe{}), "127.0.0.1", port)
	if err := check(context.Background()); err != nil {
		t.Errorf("check of a listening port = %v", err)
	}
	srv.Close()
	if err := check(context.Background()); err == nil {
		t.Error("check of a closed port passed")
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"PORT": "8080", "A": "x"}
	for in, want := range map[string]string{
		"plain":              "plain",
		"--port=$(PORT)":     "--port=8080",
		"$(A)$(A)":           "xx",
		"$$(PORT)":           "$(PORT)",
		"$(UNKNOWN)":         "$(UNKNOWN)",
		"$(unterminated":     "$(unterminated",
		"$0 $HOME $":         "$0 $HOME $",
		"i=$((i+1))":         "i=$((i+1))",
		"cost: $$5 $(A)$$":   "cost: $5 x$",
		"$(A) and $(PORT)/x": "x and 8080/x",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (a) b (c) S 1 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615\n"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.pgrp != 4240 || st.startTime != 987654 {
		t.Errorf("parseStat = %+v, want pgrp 4240 start 987654", st)
	}
	if _, err := parseStat("4242 (x) S 1"); err == nil {
		t.Error("a short stat parsed")
	}
}

func TestPickVictims(t *testing.T) {
	mk := func(phases ...phase) []*instance {
		var ins []*instance
		for i, p := range phases {
			ins = append(ins, &instance{id: strconv.Itoa(i), phase: p})
		}
		return ins
	}
	ids := func(ins []*instance) []string {
		var s []string
		for _, in := range ins {
			s = append(s, in.id)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		live   []*instance
		n      int
		victim []string
	}{
		{"newest ready", mk(phaseReady, phaseReady, phaseReady), 2, []string{"2", "1"}},
		{"starting first", mk(phaseReady, phaseStarting, phaseReady, phaseStarting), 3, []string{"3", "1", "2"}},
		{"unready before ready", mk(phaseReady, phaseUnready, phaseReady), 2, []string{"1", "2"}},
		{"all", mk(phaseReady, phaseStarting), 2, []string{"1", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.victim, ids(pickVictims(tc.live, tc.n))); diff != "" {
				t.Errorf("victims (-want +got):\n%s", diff)
			}
		})
	}
}

// An instance whose readiness path answers 503 is up, not ready: the
// start phase ends at its first answer, the ready phase at the pass.
func TestProberTellsFirstAnswerFromFirstPass(t *testing.T) {
	clk := &timerClock{FakeClock: testingclock.NewFakeClock(time.Now()), timers: make(chan time.Duration, 1)}
	answers := make(chan error)
	p := newProber(clk, newProbeSpec(nil), func(context.Context) error { return <-answers })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan bool, 1)
	go p.run(ctx, out)
	step := func(err error) {
		answers <- err
		<-clk.timers
		clk.Step(startingPeriod)
	}
	step(errors.New("connection refused"))
	if !p.firstAnswer().IsZero() {
		t.Fatal("a refused connection counted as an answer")
	}
	up := clk.Now()
	step(&statusError{path: "/ready", status: 503})
	step(&statusError{path: "/ready", status: 503})
	passed := clk.Now()
	answers <- nil
	if !<-out {
		t.Fatal("not reported ready")
	}
	if got := p.firstAnswer(); !got.Equal(up) {
		t.Errorf("first answer at %v, want the first 503 at %v", got, up)
	}
	if got := p.firstPass(); !got.Equal(passed) {
		t.Errorf("first pass at %v, want %v", got, passed)
	}
}
