package knativecmp

import (
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"knative.dev/serving/pkg/apis/autoscaling"
	asv1a1 "knative.dev/serving/pkg/apis/autoscaling/v1alpha1"
	asconfig "knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/autoscaler/metrics"
	"knative.dev/serving/pkg/autoscaler/scaling"
	kparesources "knative.dev/serving/pkg/reconciler/autoscaling/kpa/resources"
	aresources "knative.dev/serving/pkg/reconciler/autoscaling/resources"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/autoscaler/sim"
)

// scaler is one side of the spike: the samples it is fed, the decisions
// at its ticks, and a wake while requests wait (wake's only, sampled
// first as its loop does; Knative's activator pokes the autoscaler only
// at zero).
type scaler interface {
	record(now time.Time, s autoscaler.Sample)
	decide(now time.Time) int
	wakes() bool
	wake(now time.Time, inFlight int) int
}

type wakeSide struct{ d *autoscaler.Decider }

func (w wakeSide) record(now time.Time, s autoscaler.Sample) { w.d.Record(now, s) }
func (w wakeSide) decide(now time.Time) int                  { return w.d.Decide(now).Desired }
func (w wakeSide) wakes() bool                               { return true }
func (w wakeSide) wake(now time.Time, n int) int             { return w.d.Activate(now, n).Desired }

type knativeSide struct {
	collector *metrics.MetricCollector
	key       types.NamespacedName
	kpa       scaling.UniScaler
	pods      *pods
	zero      *kpaZero
}

func (k knativeSide) record(now time.Time, s autoscaler.Sample) {
	k.collector.Record(k.key, now, metrics.Stat{AverageConcurrentRequests: s.Concurrency, RequestCount: float64(s.Requests)})
	k.pods.ready = s.Ready
}
func (k knativeSide) decide(now time.Time) int {
	return k.zero.apply(now, k.kpa.Scale(zap.NewNop().Sugar(), now))
}
func (k knativeSide) wakes() bool             { return false }
func (k knativeSide) wake(time.Time, int) int { return 0 }

// spikeResult is what one side's run cost.
type spikeResult struct {
	peak              int
	podSeconds        float64
	served, lost, p99 float64
}

// runSpike is issue 23's spike on one warm instance: containerConcurrency
// 10, 100ms requests, instances that take 5s to start, 300 requests/s
// for 20s from clients that give up after 10s, then 60s idle; requests
// queue first come first served (sim.Queue), samples every second,
// decisions every two, as wake's loop and Knative's run them.
func runSpike(s scaler) spikeResult {
	const (
		cc       = 10
		startup  = int(5 * time.Second / sim.Tick)
		spikeEnd = int(20 * time.Second / sim.Tick)
		end      = int(80 * time.Second / sim.Tick)
		second   = int(time.Second / sim.Tick)
	)
	perTick := 300 * sim.Tick.Seconds()
	q := sim.NewQueue(100*time.Millisecond, 10*time.Second)
	ready, desired := 1, 1
	var starting []int // ready-at ticks
	var r spikeResult
	period, arrived, lastWake, lastSample := 0.0, 0.0, -second, 0
	scaleTo := func(k, n int) {
		desired = n
		for ready+len(starting) < n {
			starting = append(starting, k+startup)
		}
		for ready+len(starting) > n {
			if len(starting) > 0 {
				starting = starting[:len(starting)-1]
			} else {
				ready--
			}
		}
	}
	for k := 0; k < end; k++ {
		now := epoch.Add(time.Duration(k) * sim.Tick)
		for len(starting) > 0 && starting[0] <= k {
			starting, ready = starting[1:], ready+1
		}
		arrivals := 0.0
		if k < spikeEnd {
			arrivals = perTick
		}
		load := q.Step(k, arrivals, float64(ready*cc))
		sample := func() autoscaler.Sample {
			smp := autoscaler.Sample{InFlight: int(math.Ceil(load - 1e-9)),
				Requests: int64(math.Round(arrived)), Ready: ready, OldestWait: q.OldestWait(k)}
			if k > lastSample {
				smp.Concurrency = period / float64(k-lastSample)
			}
			period, arrived, lastSample = 0, 0, k
			return smp
		}
		if k > 0 && k%second == 0 {
			s.record(now, sample())
			if k%(2*second) == 0 {
				scaleTo(k, s.decide(now))
			}
		}
		if s.wakes() && q.Queued() > 1e-9 && k-lastWake >= second {
			s.record(now, sample())
			scaleTo(k, max(s.wake(now, int(math.Ceil(load-1e-9))), desired))
			lastWake = k
		}
		period += load
		arrived += arrivals
		r.peak = max(r.peak, ready+len(starting))
		r.podSeconds += float64(ready+len(starting)) * sim.Tick.Seconds()
	}
	r.served, r.lost, r.p99 = q.Served(), q.Lost(), q.Latency(0.99).Seconds()
	return r
}

// TestSpikeAgainstKnative shows what the backlog plan changes from
// Knative's KPA on issue 23's spike: Knative's activator counts every
// waiting request as concurrency, so it asks for about one instance per
// 7 waiting requests; wake plans for the arrival rate and the drain.
func TestSpikeAgainstKnative(t *testing.T) {
	kcfg, err := asconfig.NewConfigFromMap(map[string]string{"target-burst-capacity": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	pa := &asv1a1.PodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "spike-00001", Annotations: map[string]string{
			autoscaling.ClassAnnotationKey: autoscaling.KPA, autoscaling.MetricAnnotationKey: autoscaling.Concurrency}},
		Spec: asv1a1.PodAutoscalerSpec{ContainerConcurrency: 10, Reachability: asv1a1.ReachabilityReachable},
	}
	decider := kparesources.MakeDecider(pa, kcfg)
	key := types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}
	collector := metrics.NewMetricCollector(func(*asv1a1.Metric, *zap.SugaredLogger) (metrics.StatsScraper, error) {
		return nil, nil
	}, zap.NewNop().Sugar())
	if err := collector.CreateOrUpdate(aresources.MakeMetric(pa, "", kcfg)); err != nil {
		t.Fatal(err)
	}
	defer collector.Delete(key.Namespace, key.Name)
	counter := &pods{ready: 1}
	kn := runSpike(knativeSide{collector: collector, key: key, pods: counter,
		kpa:  scaling.New(attribute.NewSet(), noop.NewMeterProvider(), key.Namespace, key.Name, collector, counter, &decider.Spec),
		zero: &kpaZero{cfg: kcfg, window: decider.Spec.StableWindow, active: true, since: epoch, scale: 1}})

	sc, errs := api.ParseScaling(nil, 10, field.NewPath("metadata", "annotations"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	spec := autoscaler.DefaultConfig().Spec(sc)
	spec.RequestTimeout = 10 * time.Second
	d := autoscaler.NewDecider(spec, epoch, false)
	d.Adopt(1)
	wk := runSpike(wakeSide{d})

	t.Logf("Knative: peak %d instances, %.0f pod-seconds, %.0f served, %.0f lost, p99 %.1fs", kn.peak, kn.podSeconds, kn.served, kn.lost, kn.p99)
	t.Logf("wake:    peak %d instances, %.0f pod-seconds, %.0f served, %.0f lost, p99 %.1fs", wk.peak, wk.podSeconds, wk.served, wk.lost, wk.p99)
	if wk.lost > 0.5 || wk.peak > 20 || wk.p99 > 1.5*kn.p99+0.05 {
		t.Errorf("wake: %.1f lost, peak %d, p99 %.1fs; want 0 lost, at most 20 instances, p99 within 1.5× Knative's %.1fs",
			wk.lost, wk.peak, wk.p99, kn.p99)
	}
	if kn.peak < 5*wk.peak {
		t.Errorf("Knative's peak %d is not far above wake's %d: the comparison no longer shows the backlog plan", kn.peak, wk.peak)
	}
}
