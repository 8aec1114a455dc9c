package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// keepAlive is how often an idle stream sends the server's clock, which
// the pages use to show ages ("3s ago") without trusting their own, and
// which lets a dead connection be noticed.
const keepAlive = 10 * time.Second

// stream serves a page's server-sent events:
//
//	event: overview   every function and trigger, when any changed
//	event: detail     the function of ?function=NAMESPACE/NAME, when it changed
//	event: points     its revisions' chart points not sent yet: the autoscaler's trace
//	event: clock      the server's time, at the start and every keepAlive
//
// It ends when the page goes, or when the console closes.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	var fn *api.FunctionKey
	if v := r.URL.Query().Get("function"); v != "" {
		ns, name, ok := strings.Cut(v, "/")
		if !ok || ns == "" || name == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("function: want NAMESPACE/NAME, got %q", v), nil)
			return
		}
		fn = &api.FunctionKey{Namespace: ns, Name: name}
	}
	select {
	case <-c.closed:
		writeError(w, http.StatusServiceUnavailable, "the console is shutting down", nil)
		return
	default:
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	w.WriteHeader(http.StatusOK)

	unsubscribe := c.hub.subscribe(fn)
	defer unsubscribe()
	ping := c.clock.NewTicker(keepAlive)
	defer ping.Stop()

	var sentOverview, sentDetail []byte
	sentUpTo := map[string]time.Time{} // by revision: the time of the last chart point sent
	send := func(event string, data []byte) error {
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		return err
	}
	clock := func() error {
		return send("clock", []byte(strconv.FormatInt(c.clock.Now().UnixMilli(), 10)))
	}
	if clock() != nil {
		return
	}
	for {
		fr, next := c.hub.latest()
		if fr != nil {
			var err error
			if !bytes.Equal(fr.overview, sentOverview) {
				sentOverview, err = fr.overview, send("overview", fr.overview)
			}
			if fn != nil && err == nil {
				if d, ok := fr.details[*fn]; ok && !bytes.Equal(d, sentDetail) {
					sentDetail, err = d, send("detail", d)
				}
			}
			if fn != nil && err == nil {
				if pts := newPoints(fr.traces[*fn], sentUpTo); len(pts) > 0 {
					b, _ := json.Marshal(pts)
					err = send("points", b)
				}
			}
			if err == nil {
				err = rc.Flush()
			}
			if err != nil {
				return // the page went
			}
		} else if rc.Flush() != nil {
			return
		}
		select {
		case <-next:
		case <-ping.C():
			if clock() != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-c.closed:
			return
		}
	}
}

// newPoints returns the points of traces (by revision) later than the
// last sent of each revision, and moves sentUpTo past them.
func newPoints(traces map[string][]api.ScalingPoint, sentUpTo map[string]time.Time) map[string][]api.ScalingPoint {
	out := map[string][]api.ScalingPoint{}
	for rev, pts := range traces {
		i := len(pts)
		for i > 0 && pts[i-1].Time.After(sentUpTo[rev]) {
			i--
		}
		if i < len(pts) {
			out[rev] = pts[i:]
			sentUpTo[rev] = pts[len(pts)-1].Time.Time
		}
	}
	return out
}

// maxEditBytes bounds an edit's body.
const maxEditBytes = 64 << 10

// readEdit decodes a page's JSON edit into v. It refuses a body that is
// not JSON (a form another site could post) and a request from another
// site's page.
func readEdit(w http.ResponseWriter, r *http.Request, v any) bool {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "the console takes edits only from its own pages", nil)
		return false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("send application/json, not %q", ct), nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEditBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("reading the edit: %v", err), nil)
		return false
	}
	return true
}

// trafficEdit is the body of PUT api/functions/NAMESPACE/NAME/traffic:
// the whole new spec.traffic, as `wake traffic --to ... --tag ...` sends.
type trafficEdit struct {
	Traffic []api.TrafficTarget `json:"traffic"`
}

func (c *Console) putTraffic(w http.ResponseWriter, r *http.Request, key api.FunctionKey) {
	var e trafficEdit
	if !readEdit(w, r, &e) {
		return
	}
	fn, err := c.opts.Platform.SetTraffic(r.Context(), key, e.Traffic)
	if err != nil {
		c.writeEditError(w, err)
		return
	}
	c.hub.poke()
	writeJSON(w, http.StatusOK, fn.Status.Traffic)
}

// rateEdit is the body of PUT api/triggers/NAMESPACE/NAME/rate: events
// per second, or null for no limit, as `wake trigger rate` sends.
type rateEdit struct {
	RateLimit *float64 `json:"rateLimit"`
}

func (c *Console) putRate(w http.ResponseWriter, r *http.Request, key api.TriggerKey) {
	var e rateEdit
	if !readEdit(w, r, &e) {
		return
	}
	t, err := c.opts.Platform.SetRateLimit(key, e.RateLimit)
	if err != nil {
		c.writeEditError(w, err)
		return
	}
	c.hub.poke()
	writeJSON(w, http.StatusOK, triggerOf(t))
}

// writeEditError answers as the admin API does, so that a page shows the
// CLI's messages: every validation problem (400), a missing object (404),
// a conflict (409).
func (c *Console) writeEditError(w http.ResponseWriter, err error) {
	var problems api.Errors
	switch {
	case errors.As(err, &problems):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d problem(s) in the edit", len(problems)), problems)
	case errors.Is(err, controlplane.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error(), nil)
	case errors.Is(err, controlplane.ErrConflict):
		writeError(w, http.StatusConflict, err.Error(), nil)
	default:
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
	}
}
