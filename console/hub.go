package console

import (
	"encoding/json"
	"sync"
	"time"

	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
)

// hub runs the one sampler that feeds every stream. While at least one
// page is open it reads the platform's state into a frame (the overview,
// and the detail of each function some page shows) when told of a change
// and every Interval, and every RateStep adds rate samples; then it
// wakes the streams, each of which sends what changed since it last sent.
// A slow page skips frames rather than holding the sampler up: frames are
// replaced, not queued. The charts' points are the autoscaler's own trace,
// which it keeps whether or not a page is open, so a chart shows the last
// minutes from the moment its page opens.
//
// With no page open the sampler is stopped and costs nothing.
type hub struct {
	c *Console

	mu      sync.Mutex
	viewers int
	watched map[api.FunctionKey]int // functions some page shows, and how many pages
	stop    chan struct{}           // closes to stop the sampler; nil while it is stopped
	done    chan struct{}           // closed when the sampler has stopped
	kick    chan struct{}           // asks the sampler for a frame now (a new page)
	frame   *frame                  // the latest
	changed chan struct{}           // closed and replaced at each frame

	// Owned by the sampler.
	rates     *rates
	lastRates time.Time
}

// frame is the platform's state at one tick, encoded once for every page.
type frame struct {
	overview []byte
	details  map[api.FunctionKey][]byte
	// traces of each watched function's revisions, by revision name, for
	// the charts.
	traces map[api.FunctionKey]map[string][]api.ScalingPoint
}

func newHub(c *Console) *hub {
	return &hub{c: c, watched: map[api.FunctionKey]int{}, changed: make(chan struct{}),
		kick: make(chan struct{}, 1), rates: newRates()}
}

// subscribe counts a page in (showing fn's detail, if fn is set) and
// starts the sampler if it was the first; the returned func counts it out.
func (h *hub) subscribe(fn *api.FunctionKey) (unsubscribe func()) {
	h.mu.Lock()
	h.viewers++
	if fn != nil {
		h.watched[*fn]++
	}
	if h.stop == nil {
		// A sampler stopped a moment ago may still be finishing a frame:
		// the new one waits for it, so that only one ever samples.
		prev := h.done
		h.stop, h.done = make(chan struct{}), make(chan struct{})
		go h.run(prev, h.stop, h.done)
	}
	h.mu.Unlock()
	h.poke()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.viewers--
			if fn != nil {
				if h.watched[*fn]--; h.watched[*fn] == 0 {
					delete(h.watched, *fn)
				}
			}
			if h.viewers == 0 && h.stop != nil {
				close(h.stop)
				h.stop = nil
			}
		})
	}
}

// stopSampler stops the sampler, if it runs, and waits for it.
func (h *hub) stopSampler() {
	h.mu.Lock()
	stop, done := h.stop, h.done
	h.stop = nil
	h.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	if done != nil {
		<-done
	}
}

func (h *hub) run(prev <-chan struct{}, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if prev != nil {
		<-prev
	}
	t := h.c.clock.NewTicker(h.c.opts.Interval)
	defer t.Stop()
	var last time.Time
	var held <-chan time.Time // a change waiting out MinGap
	for {
		select {
		case <-stop:
			return
		case <-h.kick:
		case <-h.c.opts.Changes:
			if wait := MinGap - h.c.clock.Since(last); wait > 0 {
				if held == nil {
					held = h.c.clock.After(wait)
				}
				continue
			}
		case <-held:
		case <-t.C():
		}
		held = nil
		last = h.c.clock.Now()
		h.sample(last)
	}
}

// latest returns the latest frame (nil before the first) and a channel
// closed when the next one is ready.
func (h *hub) latest() (*frame, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.frame, h.changed
}

// sample reads the platform's state at now into a new frame and wakes the
// streams. Only the sampler's goroutine calls it (tests call it directly,
// with a fake clock).
func (h *hub) sample(now time.Time) {
	p := h.c.opts.Platform
	fns := p.Functions("")
	revs := p.Revisions("", "")
	byFn := groupRevisions(revs)

	if h.lastRates.IsZero() || now.Sub(h.lastRates) >= RateStep-h.c.opts.Interval/2 {
		h.lastRates = now
		if h.c.opts.Data != nil {
			live := make(map[api.RevisionKey]bool, len(revs))
			for _, r := range revs {
				k := r.Key()
				live[k] = true
				h.rates.add(k, now, h.c.opts.Data.Outcomes(k))
			}
			h.rates.keep(live)
		}
	}

	ov := overview{Functions: make([]functionView, 0, len(fns)), Triggers: []triggerView{}, Requests: h.c.opts.Data != nil}
	fnByKey := make(map[api.FunctionKey]*api.Function, len(fns))
	for _, fn := range fns {
		fnByKey[fn.Key()] = fn
		ov.Functions = append(ov.Functions, h.functionOf(fn, byFn[fn.Key()]))
	}
	for _, t := range p.Triggers("") {
		ov.Triggers = append(ov.Triggers, triggerOf(t))
	}
	fr := &frame{details: map[api.FunctionKey][]byte{}, traces: map[api.FunctionKey]map[string][]api.ScalingPoint{}}
	fr.overview = h.encode(ov)

	h.mu.Lock()
	watched := make([]api.FunctionKey, 0, len(h.watched))
	for k := range h.watched {
		watched = append(watched, k)
	}
	h.mu.Unlock()
	for _, k := range watched {
		d, traces := h.detailOf(k, fnByKey, byFn)
		fr.details[k], fr.traces[k] = h.encode(d), traces
	}

	h.mu.Lock()
	h.frame = fr
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *hub) encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		h.c.log.Error("console: encoding a frame", zap.Error(err)) // a bug: every field is plain data
		return []byte("null")
	}
	return b
}

// poke asks the sampler for a frame now, so that a page sees its own edit
// at once; nothing happens while no page is open.
func (h *hub) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}
