package knativecmp

import (
	"fmt"
	"math"
	"strings"
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
	"knative.dev/serving/pkg/autoscaler/config/autoscalerconfig"
	"knative.dev/serving/pkg/autoscaler/metrics"
	"knative.dev/serving/pkg/autoscaler/scaling"
	kparesources "knative.dev/serving/pkg/reconciler/autoscaling/kpa/resources"
	aresources "knative.dev/serving/pkg/reconciler/autoscaling/resources"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
)

// tick is Knative's decision interval (scaling.tickInterval), and wake's
// DefaultDecisionInterval.
const tick = autoscaler.DefaultDecisionInterval

// epoch is a whole second: Knative's buckets index by Unix second.
var epoch = time.Unix(1_800_000_000, 0)

// deviations are the wake Steps that may explain a decision that differs
// from Knative's; see the package comment.
const deviations = autoscaler.StepInFlightFloor | autoscaler.StepBacklogPlan

// pods is Knative's pod counter: the count the last decision applied,
// ready at once (both deciders are given the same instances).
type pods struct{ ready int }

func (p *pods) ReadyCount() (int, error)    { return p.ready, nil }
func (p *pods) NotReadyCount() (int, error) { return 0, nil }

// kpaZero is Knative's KPA scaler between the decider and the scale it
// applies (pkg/reconciler/autoscaling/kpa/scaler.go, handleScaleToZero,
// and the PA's Active condition that kpa.go's computeStatus keeps),
// transcribed for target-burst-capacity -1: the activator is in the path,
// so the SKS has been proxying for longer than any grace period.
type kpaZero struct {
	cfg    *autoscalerconfig.Config
	window time.Duration
	active bool
	since  time.Time // when Active last changed
	scale  int       // what was last applied
}

func (k *kpaZero) apply(now time.Time, sr scaling.ScaleResult) int {
	if !sr.ScaleValid {
		return k.scale
	}
	want := int(sr.DesiredPodCount) // bounds: min-scale 0, no max-scale
	switch {
	case want != 0:
		if !k.active { // computeStatus: MarkActive once pods serve it
			k.active, k.since = true, now
		}
		k.scale = want
	case !k.cfg.EnableScaleToZero:
		k.scale = 1
	case k.active && now.Sub(k.since) < k.window:
		k.scale = 1 // "scale down to at least 1 for the remainder of the stable window"
	default:
		if k.active { // returns (0, false): PA marked inactive, scale not applied;
			k.active, k.since = false, now // the status update reconciles it again at once
		}
		retention := k.cfg.ScaleToZeroPodRetentionPeriod
		if now.Sub(k.since) >= max(k.cfg.ScaleToZeroGracePeriod, retention) || now.Sub(k.since) >= retention {
			k.scale = 0 // CanScaleToZero, or retention met and proxying ≥ grace
		}
	}
	return k.scale
}

// run is one trace through both deciders.
type run struct {
	decisions, differ, explained int
	first                        []string // the first unexplained differences
	zeroKnative, zeroWake        []time.Duration
	podSecondsKnative, podWake   float64
	peakKnative, peakWake        int
}

func compare(t *testing.T, tr trace, cc int64, config map[string]string) run {
	t.Helper()
	// Knative's side, built as its KPA reconciler builds it.
	kcfgMap := map[string]string{"target-burst-capacity": "-1"}
	for k, v := range config {
		kcfgMap[k] = v
	}
	kcfg, err := asconfig.NewConfigFromMap(kcfgMap)
	if err != nil {
		t.Fatal(err)
	}
	pa := &asv1a1.PodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "fn-00001", Annotations: map[string]string{
			autoscaling.ClassAnnotationKey: autoscaling.KPA, autoscaling.MetricAnnotationKey: autoscaling.Concurrency}},
		Spec: asv1a1.PodAutoscalerSpec{ContainerConcurrency: cc, Reachability: asv1a1.ReachabilityReachable},
	}
	decider := kparesources.MakeDecider(pa, kcfg)
	key := types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}
	collector := metrics.NewMetricCollector(func(*asv1a1.Metric, *zap.SugaredLogger) (metrics.StatsScraper, error) {
		return nil, nil // stats arrive as the activator's, through Record
	}, zap.NewNop().Sugar())
	if err := collector.CreateOrUpdate(aresources.MakeMetric(pa, "", kcfg)); err != nil {
		t.Fatal(err)
	}
	defer collector.Delete(key.Namespace, key.Name)
	counter := &pods{ready: 1} // initial-scale 1, reached
	kpa := scaling.New(attribute.NewSet(), noop.NewMeterProvider(), key.Namespace, key.Name, collector, counter, &decider.Spec)
	zero := &kpaZero{cfg: kcfg, window: decider.Spec.StableWindow, active: true, since: epoch, scale: 1}

	// wake's side, from the same settings.
	wcfg, err := autoscaler.ParseConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	scaling, errs := api.ParseScaling(nil, cc, field.NewPath("metadata", "annotations"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	spec := wcfg.Spec(scaling)
	if spec.TargetValue != decider.Spec.TargetValue || spec.StableWindow != decider.Spec.StableWindow ||
		spec.PanicThreshold != decider.Spec.PanicThreshold || spec.MaxScaleUpRate != decider.Spec.MaxScaleUpRate {
		t.Fatalf("wake's spec %+v differs from Knative's decider spec %+v", spec, decider.Spec)
	}
	wake := autoscaler.NewDecider(spec, epoch, true)

	var r run
	ready, wakeCount := 1, 1
	log := zap.NewNop().Sugar()
	for s := 1; s <= len(tr.c); s++ {
		now := epoch.Add(time.Duration(s) * time.Second)
		c := tr.c[s-1]
		// The activator's report of the second that ended now.
		collector.Record(key, now, metrics.Stat{AverageConcurrentRequests: c, RequestCount: c})
		wake.Record(now, autoscaler.Sample{Concurrency: c, InFlight: int(math.Ceil(c - 1e-9)), Requests: int64(math.Round(c)), Ready: ready})
		r.podSecondsKnative += float64(ready)
		r.podWake += float64(wakeCount)
		if now.Sub(epoch)%tick != 0 {
			continue
		}
		counter.ready = ready
		k := zero.apply(now, kpa.Scale(log, now))
		dec := wake.Decide(now)
		r.decisions++
		if k == 0 && ready > 0 {
			r.zeroKnative = append(r.zeroKnative, now.Sub(epoch))
		}
		if dec.Desired == 0 && dec.Previous > 0 {
			r.zeroWake = append(r.zeroWake, now.Sub(epoch))
		}
		if dec.Desired != k {
			r.differ++
			if dec.Steps&deviations != 0 || dec.PlanInWindows {
				r.explained++
			} else if len(r.first) < 5 {
				r.first = append(r.first, fmt.Sprintf("%v: Knative %d, wake %d (%s)", now.Sub(epoch), k, dec.Desired, dec.Reason()))
			}
		}
		ready, wakeCount = k, dec.Desired
		r.peakKnative, r.peakWake = max(r.peakKnative, k), max(r.peakWake, dec.Desired)
	}
	return r
}

// TestSameDecisionsAsKnative feeds six traces, at containerConcurrency 0
// and 10, to Knative's KPA and to wake's Decider, and wants the same count
// at every decision, but where one of wake's listed deviations says why.
func TestSameDecisionsAsKnative(t *testing.T) {
	for _, cc := range []int64{0, 10} {
		peak := 3 * 70.0 // three instances' worth at target 100 × 70%
		if cc == 10 {
			peak = 3 * 7.0
		}
		for _, config := range []map[string]string{nil, {"scale-to-zero-pod-retention-period": "30s"}} {
			for _, tr := range traces(peak) {
				name := fmt.Sprintf("%s/cc=%d", tr.name, cc)
				if config != nil {
					name += "/retention=30s"
				}
				t.Run(name, func(t *testing.T) {
					r := compare(t, tr, cc, config)
					t.Logf("%d decisions, %d differ (%d by a listed deviation); zero at %v (Knative %v); pod-seconds %.0f (Knative %.0f); peak %d (Knative %d)",
						r.decisions, r.differ, r.explained, r.zeroWake, r.zeroKnative, r.podWake, r.podSecondsKnative, r.peakWake, r.peakKnative)
					if len(r.first) > 0 {
						t.Errorf("%d decisions differ from Knative's with no listed deviation to explain them; the first:\n  %s",
							r.differ-r.explained, strings.Join(r.first, "\n  "))
					}
					if fmt.Sprint(r.zeroWake) != fmt.Sprint(r.zeroKnative) {
						t.Errorf("zero at %v, Knative at %v", r.zeroWake, r.zeroKnative)
					}
				})
			}
		}
	}
}
