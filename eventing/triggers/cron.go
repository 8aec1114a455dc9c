package triggers

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wakefn/wake/eventing/delivery"
)

// Knative PingSource's event type.
const pingEventType = "dev.knative.sources.ping"

// fire is the cron scheduler's callback: one event per scheduled time,
// waiting its turn under the trigger's rate limit.
func (r *Runner) fire(ctx context.Context, name string, scheduled time.Time) {
	r.mu.Lock()
	t := r.trigs[name]
	r.mu.Unlock()
	if t == nil || t.spec.Cron == nil {
		return
	}
	t.lastFire.Store(&scheduled)
	e, err := pingEvent(name, t, scheduled)
	if err != nil {
		r.log.Error("building a cron event", zap.String("trigger", name), zap.Error(err))
		return
	}
	if err := t.limiter.Wait(ctx); err != nil {
		return
	}
	res := r.deliver(ctx, t, e)
	if res.Outcome == delivery.Delivered || res.Outcome == delivery.DeadLettered {
		r.log.Debug("cron event delivered", zap.String("trigger", name), zap.String("id", e.ID()),
			zap.Stringer("outcome", res.Outcome), zap.Int("attempts", res.Attempts))
	}
}

// pingEvent is a cron fire as Knative's PingSource sends it. Its id is
// the trigger and the scheduled time (UTC, so the two 01:30s of a
// fall-back day differ), the same on every retry and every repeat after a
// restart.
func pingEvent(name string, t *running, scheduled time.Time) (event.Event, error) {
	ns, n, _ := strings.Cut(name, "/")
	e := event.New()
	e.SetID(name + "/" + scheduled.UTC().Format(time.RFC3339))
	e.SetSource("/apis/v1/namespaces/" + ns + "/pingsources/" + n)
	e.SetType(pingEventType)
	e.SetTime(scheduled)
	c := t.spec.Cron
	var data []byte
	switch {
	case c.DataBase64 != "":
		var err error
		if data, err = base64.StdEncoding.DecodeString(c.DataBase64); err != nil {
			return e, err
		}
	case c.Data != "":
		data = []byte(c.Data)
	}
	if data != nil {
		ct := c.ContentType
		if ct == "" {
			ct = event.TextPlain
		}
		if err := e.SetData(ct, data); err != nil {
			return e, err
		}
	}
	return e, nil
}

func metav1Time(t time.Time) metav1.Time { return metav1.NewTime(t) }
