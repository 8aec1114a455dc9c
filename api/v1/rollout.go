package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Rollout phases.
const (
	RolloutProgressing = "Progressing" // moving traffic step by step
	RolloutPaused      = "Paused"      // held at its step by `wake rollout pause`
	RolloutSucceeded   = "Succeeded"   // the new revision has all of the share
	RolloutRolledBack  = "RolledBack"  // the analysis failed a step: all back to stable
	RolloutAborted     = "Aborted"     // `wake rollout abort`: all back to stable
	RolloutSuperseded  = "Superseded"  // a newer revision started its own rollout
)

// RolloutStatus is a function's progressive rollout: the share of the
// latest-revision traffic target moving from the stable revision to the
// new one (the canary) in steps, each step's analysis, and the outcome.
type RolloutStatus struct {
	Phase  string `json:"phase"`
	Stable string `json:"stableRevision"`
	Canary string `json:"canaryRevision"`
	// CanaryPercent is the canary's part of the latest-revision target's
	// share, 0..100, in force now.
	CanaryPercent int64 `json:"canaryPercent"`
	// Step counts the steps taken (1 is the first), StepPercent is how
	// much each adds, StepDuration how long each lasts.
	Step         int32           `json:"step"`
	StepPercent  int64           `json:"stepPercent"`
	StepDuration metav1.Duration `json:"stepDuration"`
	StartTime    metav1.Time     `json:"startTime"`
	// StepStartTime is when the current step began (its analysis window).
	StepStartTime metav1.Time `json:"stepStartTime"`
	// NextStepTime is when the next step is due; nil when paused or done.
	NextStepTime *metav1.Time `json:"nextStepTime,omitempty"`
	// EndTime is when it succeeded, rolled back or was aborted.
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// Reason and Message say why it is in its phase (for a rollback, the
	// breached threshold with the measured values).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Analyses are the latest step analyses, oldest first.
	Analyses []RolloutAnalysis `json:"analyses,omitempty"`
}

// Rollout verdicts.
const (
	VerdictPass         = "Pass"
	VerdictFail         = "Fail"
	VerdictInconclusive = "Inconclusive" // too few canary requests: the step is held
)

// RolloutAnalysis compares the canary with the stable revision over one
// step.
type RolloutAnalysis struct {
	Time    metav1.Time    `json:"time"`
	Step    int32          `json:"step"`
	Canary  RevisionSample `json:"canary"`
	Stable  RevisionSample `json:"stable"`
	Verdict string         `json:"verdict"`
	Message string         `json:"message,omitempty"`
}

// RevisionSample is what one revision served over an analysis window.
// P95 counts only requests that did not wait for a cold start.
type RevisionSample struct {
	Requests  int64           `json:"requests"`
	Errors    int64           `json:"errors"` // 5xx
	ErrorRate float64         `json:"errorRate"`
	P95       metav1.Duration `json:"p95"`
}
