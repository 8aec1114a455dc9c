package rollout

import (
	"errors"
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/latency"
)

// Sample is what a revision has served so far, as counters that only
// grow (the activator's): a step's window is the difference of two.
type Sample struct {
	Requests int64
	Errors   int64 // answered with a 5xx
	// Latency counts the requests that did not wait for a cold start.
	Latency latency.Snapshot
}

// Sub returns what was served between prev and s.
func (s Sample) Sub(prev Sample) Sample {
	return Sample{Requests: s.Requests - prev.Requests, Errors: s.Errors - prev.Errors, Latency: s.Latency.Sub(prev.Latency)}
}

// Samples reads a revision's counters now.
type Samples func(revision string) Sample

// keptAnalyses is how many analyses the status keeps.
const keptAnalyses = 10

// Rollout is one function's rollout in progress or done: its stored
// status and, in memory, the counters at the start of the current step
// and the stable revision's last conclusive measures. Not safe for
// concurrent use.
type Rollout struct {
	cfg    Config
	status api.RolloutStatus

	canaryAt, stableAt Sample // counters when the step's window began
	// The stable revision's error rate and p95 from the latest window in
	// which it served MinRequests: late in a rollout it serves too few to
	// measure, and the canary is compared with what it was.
	baseErr float64
	baseP95 time.Duration
	haveErr bool
	haveP95 bool
	read    Samples
}

// Start begins moving traffic from stable to canary at now: 1% first.
func Start(cfg Config, stable, canary string, now time.Time, read Samples) *Rollout {
	size, every := cfg.Schedule()
	r := &Rollout{cfg: cfg, read: read, status: api.RolloutStatus{
		Phase: api.RolloutProgressing, Stable: stable, Canary: canary, CanaryPercent: 1, Step: 1,
		StepPercent: size, StepDuration: metav1.Duration{Duration: every}, StartTime: metav1.NewTime(now),
		Reason: "Started", Message: fmt.Sprintf("1%% to %s, then %d%% every %v", canary, size, every),
	}}
	r.beginStep(now)
	return r
}

// Resume takes up a stored rollout after a restart: the counters are
// new, so the current step's window starts over at now.
func Resume(cfg Config, status api.RolloutStatus, now time.Time, read Samples) *Rollout {
	r := &Rollout{cfg: cfg, read: read, status: *status.DeepCopy()}
	if r.status.Phase == api.RolloutProgressing {
		r.beginStep(now)
	}
	return r
}

// Status returns a copy of the rollout's status.
func (r *Rollout) Status() api.RolloutStatus { return *r.status.DeepCopy() }

// SetConfig replaces the settings (the function's annotations changed);
// the step in progress keeps its length.
func (r *Rollout) SetConfig(cfg Config) { r.cfg = cfg }

// Active tells whether the rollout still splits traffic: progressing or
// paused.
func (r *Rollout) Active() bool {
	return r.status.Phase == api.RolloutProgressing || r.status.Phase == api.RolloutPaused
}

// Split returns the canary's part, 0..100, of the traffic that goes to
// the function's latest revision, and the revision that gets the rest.
func (r *Rollout) Split() (stable, canary string, canaryPercent int64) {
	switch r.status.Phase {
	case api.RolloutProgressing, api.RolloutPaused:
		return r.status.Stable, r.status.Canary, r.status.CanaryPercent
	case api.RolloutSucceeded:
		return r.status.Stable, r.status.Canary, 100
	default: // rolled back, aborted, superseded: all to stable
		return r.status.Stable, r.status.Canary, 0
	}
}

func (r *Rollout) beginStep(now time.Time) {
	r.status.StepStartTime = metav1.NewTime(now)
	next := metav1.NewTime(now.Add(r.status.StepDuration.Duration))
	r.status.NextStepTime = &next
	r.canaryAt, r.stableAt = r.read(r.status.Canary), r.read(r.status.Stable)
}

// Tick moves the rollout on at now: when the step is over, it analyses
// the step and takes the next one, succeeds, rolls back, or holds the step
// for more canary requests. It returns whether the status changed.
func (r *Rollout) Tick(now time.Time) bool {
	if r.status.Phase != api.RolloutProgressing || r.status.NextStepTime == nil || now.Before(r.status.NextStepTime.Time) {
		return false
	}
	a := r.analyse(now)
	r.status.Analyses = append(r.status.Analyses, a)
	if len(r.status.Analyses) > keptAnalyses {
		r.status.Analyses = r.status.Analyses[len(r.status.Analyses)-keptAnalyses:]
	}
	switch a.Verdict {
	case api.VerdictFail:
		r.end(now, api.RolloutRolledBack, "AnalysisFailed", fmt.Sprintf("step %d: %s; all traffic is back on %s", a.Step, a.Message, r.status.Stable))
	case api.VerdictInconclusive:
		// Hold the step, its window growing until the canary has served
		// enough to judge.
		next := metav1.NewTime(now.Add(r.status.StepDuration.Duration))
		r.status.NextStepTime = &next
		r.status.Reason, r.status.Message = "WaitingForRequests", a.Message
	default:
		r.status.CanaryPercent = min(100, r.status.CanaryPercent+r.status.StepPercent)
		if r.status.CanaryPercent == 100 {
			r.end(now, api.RolloutSucceeded, "Succeeded", fmt.Sprintf("%s takes all the traffic after %d steps", r.status.Canary, r.status.Step))
			break
		}
		r.status.Step++
		r.status.Reason, r.status.Message = "StepTaken", fmt.Sprintf("step %d: %d%% to %s", r.status.Step, r.status.CanaryPercent, r.status.Canary)
		r.beginStep(now)
	}
	return true
}

func (r *Rollout) end(now time.Time, phase, reason, msg string) {
	end := metav1.NewTime(now)
	r.status.Phase, r.status.Reason, r.status.Message = phase, reason, msg
	r.status.EndTime, r.status.NextStepTime = &end, nil
}

// Errors of the commands.
var (
	ErrNotActive = errors.New("no rollout in progress")
	ErrNotPaused = errors.New("the rollout is not paused")
)

// Pause holds the rollout at its step: traffic stays split as it is.
func (r *Rollout) Pause(now time.Time) error {
	switch r.status.Phase {
	case api.RolloutPaused:
		return nil
	case api.RolloutProgressing:
		r.status.Phase, r.status.NextStepTime = api.RolloutPaused, nil
		r.status.Reason, r.status.Message = "Paused", fmt.Sprintf("paused at step %d with %d%% on %s", r.status.Step, r.status.CanaryPercent, r.status.Canary)
		return nil
	}
	return fmt.Errorf("%w (it is %s)", ErrNotActive, r.status.Phase)
}

// Resume continues a paused rollout with a fresh step window. A rollout
// that was rolled back or aborted starts over from its first step: the
// user says the canary deserves another try.
func (r *Rollout) Resume(now time.Time) error {
	switch r.status.Phase {
	case api.RolloutProgressing:
		return nil
	case api.RolloutPaused:
		r.status.Phase = api.RolloutProgressing
		r.status.Reason, r.status.Message = "Resumed", fmt.Sprintf("resumed at step %d with %d%% on %s", r.status.Step, r.status.CanaryPercent, r.status.Canary)
		r.beginStep(now)
		return nil
	case api.RolloutRolledBack, api.RolloutAborted:
		*r = *Start(r.cfg, r.status.Stable, r.status.Canary, now, r.read)
		r.status.Reason, r.status.Message = "Restarted", "started over by resume: "+r.status.Message
		return nil
	}
	return fmt.Errorf("%w (it is %s)", ErrNotPaused, r.status.Phase)
}

// Abort sends all the traffic back to the stable revision.
func (r *Rollout) Abort(now time.Time, why string) error {
	if !r.Active() {
		return fmt.Errorf("%w (it is %s)", ErrNotActive, r.status.Phase)
	}
	r.end(now, api.RolloutAborted, "Aborted", why+"; all traffic is back on "+r.status.Stable)
	return nil
}

// Supersede ends the rollout because a newer revision starts its own.
func (r *Rollout) Supersede(now time.Time, by string) {
	if r.Active() {
		r.end(now, api.RolloutSuperseded, "Superseded", by+" started a new rollout")
	}
}

// analyse judges the step that ends at now.
func (r *Rollout) analyse(now time.Time) api.RolloutAnalysis {
	canary := r.read(r.status.Canary).Sub(r.canaryAt)
	stable := r.read(r.status.Stable).Sub(r.stableAt)
	a := api.RolloutAnalysis{Time: metav1.NewTime(now), Step: r.status.Step, Canary: sample(canary), Stable: sample(stable), Verdict: api.VerdictPass}
	min := r.cfg.MinRequests
	if stable.Requests >= min {
		r.baseErr, r.haveErr = rate(stable), true
	}
	if stable.Latency.Total >= min {
		r.baseP95, r.haveP95 = stable.Latency.Quantile(0.95), true
	}
	switch {
	case canary.Requests == 0 && stable.Requests == 0:
		a.Message = "no traffic in the step: nothing to compare"
		return a
	case canary.Requests < min:
		a.Verdict = api.VerdictInconclusive
		a.Message = fmt.Sprintf("waiting for %d requests to %s in the step (it has %d)", min, r.status.Canary, canary.Requests)
		return a
	}
	allowed := r.cfg.MaxErrorIncrease
	if r.haveErr {
		allowed += r.baseErr
	}
	allowed = math.Min(allowed, 1)
	if tooManyErrors(canary.Errors, canary.Requests, allowed) {
		a.Verdict = api.VerdictFail
		a.Message = fmt.Sprintf("error rate %.1f%% (%d of %d) is over the %.1f%% allowed (stable %s + %.1f points)",
			100*rate(canary), canary.Errors, canary.Requests, 100*allowed, baseText(r.haveErr, 100*r.baseErr, "%.1f%%"), 100*r.cfg.MaxErrorIncrease)
		return a
	}
	if r.haveP95 && canary.Latency.Total >= min {
		// The canary's p95 is over the limit when more than 5% of its
		// requests are: judged like the errors, so that a few slow
		// requests among a first step's handful do not decide.
		limit := time.Duration(float64(r.baseP95)*(1+r.cfg.MaxLatencyIncrease)) + r.cfg.LatencySlack
		if slow := canary.Latency.Above(limit); tooManyErrors(slow, canary.Latency.Total, 0.05) {
			a.Verdict = api.VerdictFail
			a.Message = fmt.Sprintf("p95 latency %v is over the %v allowed (stable %v + %.0f%% + %v): %d of %d requests slower",
				canary.Latency.Quantile(0.95).Round(10*time.Microsecond), limit.Round(10*time.Microsecond), r.baseP95.Round(10*time.Microsecond),
				100*r.cfg.MaxLatencyIncrease, r.cfg.LatencySlack, slow, canary.Latency.Total)
			return a
		}
	}
	a.Message = fmt.Sprintf("%s within the thresholds over %d requests", r.status.Canary, canary.Requests)
	return a
}

// tooManyErrors tells whether errors (or slow requests) out of n is more
// than a rate of allowed explains: more than the expected count by two standard
// deviations plus one, so that one unlucky error among a step's few
// requests does not roll back a healthy canary, while a clearly failing
// one fails in its first step.
func tooManyErrors(errors, n int64, allowed float64) bool {
	if n == 0 || float64(errors)/float64(n) <= allowed {
		return false
	}
	mean := allowed * float64(n)
	sd := math.Sqrt(float64(n) * allowed * (1 - allowed))
	return float64(errors) > mean+2*sd+1
}

func rate(s Sample) float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Requests)
}

func sample(s Sample) api.RevisionSample {
	return api.RevisionSample{Requests: s.Requests, Errors: s.Errors, ErrorRate: rate(s), P95: metav1.Duration{Duration: s.Latency.Quantile(0.95)}}
}

func baseText(have bool, v float64, format string) string {
	if !have {
		return "unmeasured"
	}
	return fmt.Sprintf(format, v)
}
