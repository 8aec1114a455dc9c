package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
)

func rateColumn(t *api.Trigger) string {
	r := t.RateLimitInForce()
	if r == nil {
		return "-"
	}
	return formatRate(*r) + "/s"
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// lagColumn is a Kafka trigger's lag summed over its partitions.
func lagColumn(t *api.Trigger) string {
	if t.Spec.Kafka == nil {
		return "-"
	}
	var sum int64
	for _, l := range t.Status.Lag {
		sum += l.Lag
	}
	return strconv.FormatInt(sum, 10)
}

// describeTrigger writes everything wake knows of a trigger: its source,
// sink, delivery policy, rate limit, conditions, counters and lag.
func describeTrigger(out io.Writer, t *api.Trigger) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	st := &t.Status
	ready, reason := readiness(st.Conditions)
	fmt.Fprintf(w, "Name:\t%s\n", t.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", t.Namespace)
	fmt.Fprintf(w, "Created:\t%s (%s ago)\n", t.CreationTimestamp.Format(time.RFC3339), age(t.CreationTimestamp.Time))
	if reason != "" {
		ready += "  " + reason
	}
	fmt.Fprintf(w, "Ready:\t%s\n", ready)
	describeSource(w, t)
	fmt.Fprintf(w, "Sink:\t%s\n", describeSink(t.Spec.Sink))
	fmt.Fprintf(w, "Sink URI:\t%s\n", dash(st.SinkURI))
	describeDelivery(w, t.Spec.Delivery)
	switch r := t.RateLimitInForce(); {
	case r == nil:
		fmt.Fprintln(w, "Rate limit:\tnone")
	case st.RateLimit == nil:
		fmt.Fprintf(w, "Rate limit:\t%s events/s (not in force: the trigger is not running)\n", formatRate(*r))
	default:
		fmt.Fprintf(w, "Rate limit:\t%s events/s\n", formatRate(*r))
	}
	if p := st.Pace; p != nil {
		since := ""
		if p.Since != nil {
			since = " (since " + p.Since.Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(w, "Rate in force:\t%.0f events/s, chosen by wake: %s%s\n", p.RateInForce, dash(p.Reason), since)
		if p.PausedUntil != nil {
			fmt.Fprintf(w, "Paused until:\t%s (the sink's Retry-After)\n", p.PausedUntil.Format(time.RFC3339))
		}
	}
	if ce := t.Spec.CEOverrides; ce != nil && len(ce.Extensions) > 0 {
		keys := make([]string, 0, len(ce.Extensions))
		for k := range ce.Extensions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + ce.Extensions[k]
		}
		fmt.Fprintf(w, "Extensions:\t%s\n", strings.Join(keys, ", "))
	}
	fmt.Fprintln(w, "Events:\t(since this server started running the trigger)")
	fmt.Fprintf(w, "  Delivered:\t%d\n", st.Delivered)
	fmt.Fprintf(w, "  Dead-lettered:\t%d\n", st.DeadLettered)
	fmt.Fprintf(w, "  Failed:\t%d\n", st.Failed)
	fmt.Fprintf(w, "  Retried:\t%d (retry attempts)\n", st.Retried)
	if t.Spec.Kafka != nil {
		fmt.Fprintf(w, "  Throttled:\t%d (attempts the sink refused for load: sent again, paced, outside the retry policy)\n", st.Throttled)
	}
	if t.Spec.Cron != nil {
		fmt.Fprintf(w, "  Skipped:\t%d (fires left out by the misfire or concurrency policy)\n", st.Skipped)
	}
	if err := w.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out, "\nConditions:")
	if len(st.Conditions) == 0 {
		fmt.Fprintln(out, "  none reported")
	} else {
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  TYPE\tSTATUS\tSINCE\tREASON\tMESSAGE")
		for _, c := range st.Conditions {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, age(c.LastTransitionTime.Time),
				dash(c.Reason), dash(strings.ReplaceAll(c.Message, "\n", " ")))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	if t.Spec.Kafka == nil {
		return nil
	}
	if len(st.Lag) == 0 {
		_, err := fmt.Fprintln(out, "\nLag: no partitions assigned")
		return err
	}
	fmt.Fprintln(out, "\nLag (records behind each partition's high watermark):")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  TOPIC\tPARTITION\tLAG")
	lag := append([]api.PartitionLag(nil), st.Lag...)
	sort.Slice(lag, func(i, j int) bool {
		if lag[i].Topic != lag[j].Topic {
			return lag[i].Topic < lag[j].Topic
		}
		return lag[i].Partition < lag[j].Partition
	})
	for _, l := range lag {
		fmt.Fprintf(w, "  %s\t%d\t%d\n", l.Topic, l.Partition, l.Lag)
	}
	fmt.Fprintf(w, "  total\t\t%s\n", lagColumn(t))
	return w.Flush()
}

func describeSource(w io.Writer, t *api.Trigger) {
	switch {
	case t.Spec.Kafka != nil:
		k := t.Spec.Kafka
		fmt.Fprintln(w, "Source:\tkafka")
		fmt.Fprintf(w, "  Brokers:\t%s\n", dash(strings.Join(k.BootstrapServers, ", ")))
		fmt.Fprintf(w, "  Topics:\t%s\n", dash(strings.Join(k.Topics, ", ")))
		fmt.Fprintf(w, "  Consumer group:\t%s\n", dash(k.ConsumerGroup))
		fmt.Fprintf(w, "  Initial offset:\t%s\n", dash(k.InitialOffset))
		fmt.Fprintf(w, "  Ordering:\t%s\n", describeOrdering(t.Spec.Ordering))
		if s := k.SASL; s != nil {
			fmt.Fprintf(w, "  SASL:\t%s\n", describeSASL(s))
		}
		if k.TLS != nil && k.TLS.Enable {
			tls := "enabled"
			if k.TLS.InsecureSkipVerify {
				tls += ", certificates not verified"
			}
			fmt.Fprintf(w, "  TLS:\t%s\n", tls)
		}
	case t.Spec.Cron != nil:
		c := t.Spec.Cron
		fmt.Fprintln(w, "Source:\tcron")
		fmt.Fprintf(w, "  Schedule:\t%q in %s\n", c.Schedule, c.Zone())
		switch {
		case c.Data != "":
			fmt.Fprintf(w, "  Data:\t%s\n", describeData(c.Data, len(c.Data), c.ContentType))
		case c.DataBase64 != "":
			fmt.Fprintf(w, "  Data:\t%s\n", describeData("(base64) "+c.DataBase64, len(c.DataBase64)*3/4, c.ContentType))
		}
		fmt.Fprintf(w, "  Misfires:\t%s\n", dash(c.MisfirePolicy))
		fmt.Fprintf(w, "  Concurrency:\t%s\n", dash(c.ConcurrencyPolicy))
		fmt.Fprintf(w, "  Last fire:\t%s\n", fireTime(t.Status.LastFireTime, "never"))
		fmt.Fprintf(w, "  Next fire:\t%s\n", fireTime(t.Status.NextFireTime, "none scheduled"))
	default:
		fmt.Fprintln(w, "Source:\tnone")
	}
}

func describeOrdering(o string) string {
	switch o {
	case api.OrderingKey:
		return "key (one event at a time per message key)"
	case api.OrderingPartition, "":
		return "partition (one event at a time per partition)"
	}
	return o
}

// describeSASL names the mechanism, user and where the password comes
// from; it never shows a password (a manifest holds none).
func describeSASL(s *api.KafkaSASL) string {
	mech := s.Mechanism
	if ref := s.MechanismSecret; ref != nil {
		mech = "from secret " + ref.Name + "/" + ref.Key
	}
	user := s.User
	if ref := s.UserSecret; ref != nil {
		user = "from secret " + ref.Name + "/" + ref.Key
	}
	pass := "none"
	switch {
	case s.PasswordFile != "":
		pass = "file " + s.PasswordFile
	case s.PasswordSecret != nil:
		pass = "secret " + s.PasswordSecret.Name + "/" + s.PasswordSecret.Key
	}
	return fmt.Sprintf("%s, user %s, password from %s", dash(mech), dash(user), pass)
}

// describeData shows a cron payload, cut to one line of at most 60
// characters.
func describeData(data string, size int, contentType string) string {
	s := strings.ReplaceAll(data, "\n", " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	if contentType != "" {
		return fmt.Sprintf("%s (%s, %d bytes)", s, contentType, size)
	}
	return fmt.Sprintf("%s (%d bytes)", s, size)
}

// fireTime is a cron fire time, absolute and relative to now.
func fireTime(t *metav1.Time, none string) string {
	if t == nil || t.IsZero() {
		return none
	}
	abs := t.Local().Format(time.RFC3339)
	if d := time.Until(t.Time); d > 0 {
		return fmt.Sprintf("%s (in %s)", abs, shortDuration(d))
	}
	return fmt.Sprintf("%s (%s ago)", abs, age(t.Time))
}

// shortDuration is d in age's style: 42s, 5m, 3h, 2d.
func shortDuration(d time.Duration) string {
	return age(time.Now().Add(-d))
}

func describeSink(s api.Sink) string {
	switch {
	case s.Function != "" && s.Tag != "":
		return fmt.Sprintf("function %s, revision tagged %s", s.Function, s.Tag)
	case s.Function != "":
		return "function " + s.Function
	case s.URI != "":
		return "uri " + s.URI
	}
	return "none"
}

// describeDelivery writes the retry policy and where events that fail for
// good go, with the defaults that apply when a field is left out.
func describeDelivery(w io.Writer, d *api.DeliverySpec) {
	if d == nil {
		fmt.Fprintln(w, "Delivery:\tone attempt, no retries, no dead-letter sink")
		return
	}
	retries := int32(0)
	if d.Retry != nil {
		retries = *d.Retry
	}
	switch {
	case retries == 0:
		fmt.Fprintln(w, "Delivery:\tno retries")
	default:
		delay := d.BackoffDelay
		if delay == "" {
			delay = fmt.Sprintf("%v (default)", delivery.DefaultBackoffDelay)
		}
		fmt.Fprintf(w, "Delivery:\tretry %d times, %s backoff from %s\n", retries, dash(d.BackoffPolicy), delay)
	}
	timeout := d.Timeout
	if timeout == "" {
		timeout = "none"
	}
	fmt.Fprintf(w, "  Timeout:\t%s per attempt\n", timeout)
	if d.RetryAfterMax != "" {
		fmt.Fprintf(w, "  Retry-After max:\t%s\n", d.RetryAfterMax)
	}
	dl := "none"
	if s := d.DeadLetterSink; s != nil {
		if s.KafkaTopic != "" {
			dl = "kafka topic " + s.KafkaTopic
		} else {
			dl = describeSink(s.Sink)
		}
	}
	fmt.Fprintf(w, "  Dead letters:\t%s\n", dl)
}
