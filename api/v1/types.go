package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// API groups, versions and kinds wake reads and writes.
const (
	Group      = "wake.dev"
	APIVersion = "wake.dev/v1"

	// KnativeServingAPIVersion is accepted on input: a Knative Service
	// manifest is a Function with another apiVersion and kind.
	KnativeServingAPIVersion = "serving.knative.dev/v1"

	KindFunction     = "Function"
	KindFunctionList = "FunctionList"
	KindTriggerList  = "TriggerList"
	KindRevision     = "Revision"
	KindRevisionList = "RevisionList"
	KindService      = "Service" // Knative's name for a Function
)

// Labels wake puts on every revision.
const (
	// LabelFunction names the function a revision belongs to.
	LabelFunction = "wake.dev/function"
	// LabelKnativeService is Knative's label for the same thing; set too so
	// tooling written for Knative keeps working.
	LabelKnativeService = "serving.knative.dev/service"
	// LabelGeneration is the function generation that created a revision.
	LabelGeneration = "wake.dev/generation"
	// LabelTemplateHash is a hash of the function template a revision was
	// made from. In Kubernetes mode, where the controller may not have
	// seen the template a user replaced, it tells whether the function's
	// current template already has its revision.
	LabelTemplateHash = "wake.dev/template-hash"
)

// Function is a deployable unit: a template for its revisions and the
// traffic split across them. Its schema is Knative's Service.
type Function struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FunctionSpec   `json:"spec"`
	Status FunctionStatus `json:"status,omitempty"`
}

// FunctionSpec is what the user asks for.
type FunctionSpec struct {
	// Template describes the revision to run. Any change to it creates a
	// new immutable revision.
	Template RevisionTemplate `json:"template"`
	// Traffic splits requests across revisions. Empty means 100% to the
	// latest ready revision.
	Traffic []TrafficTarget `json:"traffic,omitempty"`
}

// RevisionTemplate is the template of a revision: its metadata (for the
// autoscaling annotations and an optional explicit revision name) and spec.
type RevisionTemplate struct {
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RevisionSpec `json:"spec"`
}

// RevisionSpec is the runnable part of a revision.
type RevisionSpec struct {
	// ContainerConcurrency is the most requests one instance serves at
	// once. 0 (the default) means no limit.
	ContainerConcurrency *int64 `json:"containerConcurrency,omitempty"`
	// TimeoutSeconds bounds a request, its time queued for an instance
	// included. Default DefaultTimeoutSeconds.
	TimeoutSeconds *int64 `json:"timeoutSeconds,omitempty"`
	// ResponseStartTimeoutSeconds and IdleTimeoutSeconds are Knative's; they
	// are accepted and kept for Kubernetes mode.
	ResponseStartTimeoutSeconds *int64 `json:"responseStartTimeoutSeconds,omitempty"`
	IdleTimeoutSeconds          *int64 `json:"idleTimeoutSeconds,omitempty"`
	// ServiceAccountName and ImagePullSecrets are kept for Kubernetes mode.
	ServiceAccountName string                 `json:"serviceAccountName,omitempty"`
	ImagePullSecrets   []LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// Containers holds exactly one container: the function.
	Containers []Container `json:"containers"`
	// Warmup, when set, sends requests to each new instance after its
	// readiness probe passes and before it takes traffic (see Warmup).
	// Knative manifests give it as the wake.dev/warmup annotation.
	Warmup *Warmup `json:"warmup,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name,omitempty"`
}

// Container is the function's process. In embedded mode a container with
// a Command runs it as a local process (Image ignored), and one with only
// an Image runs the image as a container (Command and Args, when given,
// override its entrypoint and cmd, as in Kubernetes); on Kubernetes the
// Image is run.
type Container struct {
	Name            string                `json:"name,omitempty"`
	Image           string                `json:"image,omitempty"`
	ImagePullPolicy string                `json:"imagePullPolicy,omitempty"`
	Command         []string              `json:"command,omitempty"`
	Args            []string              `json:"args,omitempty"`
	WorkingDir      string                `json:"workingDir,omitempty"`
	Env             []EnvVar              `json:"env,omitempty"`
	Ports           []ContainerPort       `json:"ports,omitempty"`
	Resources       *ResourceRequirements `json:"resources,omitempty"`
	ReadinessProbe  *Probe                `json:"readinessProbe,omitempty"`
	LivenessProbe   *Probe                `json:"livenessProbe,omitempty"`
	StartupProbe    *Probe                `json:"startupProbe,omitempty"`
	SecurityContext *SecurityContext      `json:"securityContext,omitempty"`
}

// SecurityContext is the part of Kubernetes' container securityContext
// wake applies to images in embedded mode (and passes on in Kubernetes
// mode). Every container runs with no new privileges.
type SecurityContext struct {
	// RunAsUser and RunAsGroup override the image's user.
	RunAsUser  *int64 `json:"runAsUser,omitempty"`
	RunAsGroup *int64 `json:"runAsGroup,omitempty"`
	// RunAsNonRoot refuses to start an instance whose user is root.
	RunAsNonRoot *bool `json:"runAsNonRoot,omitempty"`
	// ReadOnlyRootFilesystem makes the image's filesystem read-only (/tmp
	// stays writable).
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities   `json:"capabilities,omitempty"`
	SeccompProfile           *SeccompProfile `json:"seccompProfile,omitempty"`
}

// Capabilities adds to or drops from the default capabilities; "ALL" in
// Drop drops every one.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// SeccompProfile is accepted as Knative's secure defaults write it
// (type: RuntimeDefault).
type SeccompProfile struct {
	Type             string `json:"type,omitempty"`
	LocalhostProfile string `json:"localhostProfile,omitempty"`
}

// EnvVar is one environment variable given to every instance.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// ContainerPort is the port the function listens on. Named "h2c", it says
// the function speaks HTTP/2 without TLS (gRPC), as in Knative.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

// PortNameH2C marks a container port that speaks cleartext HTTP/2.
const PortNameH2C = "h2c"

// ResourceRequirements bound an instance: in embedded mode limits.memory
// and limits.cpu are enforced through its control group and requests are
// recorded; on Kubernetes both go to the pod.
type ResourceRequirements struct {
	Limits   map[string]resource.Quantity `json:"limits,omitempty"`
	Requests map[string]resource.Quantity `json:"requests,omitempty"`
}

// Probe checks an instance. Zero fields take Kubernetes' defaults (see
// SetDefaults).
type Probe struct {
	ProbeHandler        `json:",inline"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds      int32 `json:"timeoutSeconds,omitempty"`
	PeriodSeconds       int32 `json:"periodSeconds,omitempty"`
	SuccessThreshold    int32 `json:"successThreshold,omitempty"`
	FailureThreshold    int32 `json:"failureThreshold,omitempty"`
}

// ProbeHandler is how a probe checks: at most one of its fields is set;
// none means a TCP connect to the instance's port.
type ProbeHandler struct {
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
}

// HTTPGetAction probes with a GET; a status in [200, 400) passes.
type HTTPGetAction struct {
	Path        string             `json:"path,omitempty"`
	Port        intstr.IntOrString `json:"port,omitempty"`
	Host        string             `json:"host,omitempty"`
	Scheme      string             `json:"scheme,omitempty"`
	HTTPHeaders []HTTPHeader       `json:"httpHeaders,omitempty"`
}

// HTTPHeader is a header sent by an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction probes by opening a TCP connection.
type TCPSocketAction struct {
	Port intstr.IntOrString `json:"port,omitempty"`
	Host string             `json:"host,omitempty"`
}

// TrafficTarget sends a share of a function's requests to one revision,
// and optionally names it with a tag reachable at TAG-NAME.NAMESPACE.DOMAIN.
type TrafficTarget struct {
	Tag string `json:"tag,omitempty"`
	// RevisionName and LatestRevision are exclusive: a named revision, or
	// the latest ready one.
	RevisionName   string `json:"revisionName,omitempty"`
	LatestRevision *bool  `json:"latestRevision,omitempty"`
	Percent        *int64 `json:"percent,omitempty"`
	// URL is set in status for tagged targets.
	URL string `json:"url,omitempty"`
}

// FunctionStatus is what wake observed, Knative style.
type FunctionStatus struct {
	ObservedGeneration        int64           `json:"observedGeneration,omitempty"`
	Conditions                []Condition     `json:"conditions,omitempty"`
	URL                       string          `json:"url,omitempty"`
	LatestCreatedRevisionName string          `json:"latestCreatedRevisionName,omitempty"`
	LatestReadyRevisionName   string          `json:"latestReadyRevisionName,omitempty"`
	Traffic                   []TrafficTarget `json:"traffic,omitempty"`
	// Rollout is the function's progressive rollout, the one in progress
	// or the last one; nil when it never had one. Unlike the rest of the
	// status it is stored: it is state a restart must resume.
	Rollout *RolloutStatus `json:"rollout,omitempty"`
}

// ServingRevision is the revision new traffic goes to: the latest ready,
// else the latest created ("" before any). Logs follow it.
func (s *FunctionStatus) ServingRevision() string {
	if s.LatestReadyRevisionName != "" {
		return s.LatestReadyRevisionName
	}
	return s.LatestCreatedRevisionName
}

// Revision is an immutable snapshot of a function's template.
type Revision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RevisionSpec   `json:"spec"`
	Status RevisionStatus `json:"status,omitempty"`
}

// RevisionStatus is the observed state of a revision.
type RevisionStatus struct {
	Conditions []Condition `json:"conditions,omitempty"`
	// DesiredReplicas is what the autoscaler asks for; ActualReplicas is
	// how many instances are ready.
	DesiredReplicas int32 `json:"desiredReplicas"`
	ActualReplicas  int32 `json:"actualReplicas"`
	// ImageDigest is the digest an image revision's tag resolved to when
	// it was created; the revision runs it for ever (Knative's
	// containerStatuses[].imageDigest).
	ImageDigest string `json:"imageDigest,omitempty"`
	// LastTermination is the latest instance that ended on its own
	// (Crashed, OOMKilled, ExitedBeforeReady), kept after others become
	// ready, as a Kubernetes container's lastState.terminated is.
	LastTermination *Termination `json:"lastTermination,omitempty"`
	// Autoscaling is the autoscaler's view, live: filled in when the
	// revision is read, never stored.
	Autoscaling *AutoscalingStatus `json:"autoscaling,omitempty"`
	// ColdStarts are the revision's latest wake-ups from zero, oldest
	// first, with their phases; live, only when asked for (`wake describe`).
	ColdStarts []ColdStart `json:"coldStarts,omitempty"`
}

// Termination is how an instance ended.
type Termination struct {
	Reason  string      `json:"reason"`
	Message string      `json:"message,omitempty"`
	Time    metav1.Time `json:"time"`
}

// ColdStart is one wake-up of a revision from zero instances: when the
// first request arrived, the instance that served it, and how the wait
// divided into wake's phases (see runtime.StartTimes).
type ColdStart struct {
	Time     metav1.MicroTime `json:"time"`
	Instance string           `json:"instance"`
	Queue    metav1.Duration  `json:"queue"`
	// Create is a container's: its namespace, network and root.
	Create *metav1.Duration `json:"create,omitempty"`
	Start  metav1.Duration  `json:"start"`
	Ready  metav1.Duration  `json:"ready"`
	Warmup metav1.Duration  `json:"warmup"`
	// Total is the first request's wait, arrival to dispatch.
	Total metav1.Duration `json:"total"`
}

// AutoscalingStatus is what the autoscaler last saw and decided for a
// revision, and why.
type AutoscalingStatus struct {
	Metric string `json:"metric"` // concurrency or rps
	// Target is what the autoscaler aims at per instance (the target
	// times the utilization).
	Target         float64 `json:"target"`
	ObservedStable float64 `json:"observedStable"` // the metric's average over the stable window
	ObservedPanic  float64 `json:"observedPanic"`  // ... over the panic window
	Panic          bool    `json:"panic"`
	// LastDecision is the latest decision (every 2s while the revision is
	// managed), Decisions the latest that changed the count or the panic
	// mode, oldest first; only when asked for (`wake describe`).
	LastDecision *ScalingDecision  `json:"lastDecision,omitempty"`
	Decisions    []ScalingDecision `json:"decisions,omitempty"`
	// Trace is the state the decisions left the revision in over the last
	// five minutes, oldest first, a point each time something changed
	// (the first is what held when the five minutes began); with the
	// decisions only.
	Trace []ScalingPoint `json:"trace,omitempty"`
	// Settings are the settings in force (annotations over the server's
	// defaults); only with the decisions.
	Settings *AutoscalingSettings `json:"settings,omitempty"`
}

// AutoscalingSettings are a revision's autoscaling settings as the
// autoscaler resolved them, with Knative's names.
type AutoscalingSettings struct {
	TargetPerInstance        float64         `json:"target"` // before utilization
	StableWindow             metav1.Duration `json:"stableWindow"`
	PanicWindow              metav1.Duration `json:"panicWindow"`
	PanicThresholdPercentage float64         `json:"panicThresholdPercentage"`
	MaxScaleUpRate           float64         `json:"maxScaleUpRate"`
	MaxScaleDownRate         float64         `json:"maxScaleDownRate"`
	ScaleDownDelay           metav1.Duration `json:"scaleDownDelay"`
	MinScale                 int32           `json:"minScale"`
	MaxScale                 int32           `json:"maxScale"`
	InitialScale             int32           `json:"initialScale"`
	ActivationScale          int32           `json:"activationScale"`
	ScaleToZero              bool            `json:"scaleToZero"`
	// ScaleToZeroAfter is the idle time before zero, as Knative's scaler
	// counts it with the activator in the path: the stable window plus
	// the pod retention period (the grace period does not delay it).
	ScaleToZeroAfter metav1.Duration `json:"scaleToZeroAfter"`
	// MinScaleSchedule is the wake.dev/min-scale-schedule annotation, and
	// EffectiveMinScale the minimum in force now: min-scale raised by the
	// schedule's entries holding (0 when no route reaches the revision).
	MinScaleSchedule  string `json:"minScaleSchedule,omitempty"`
	EffectiveMinScale int32  `json:"effectiveMinScale"`
}

// ScalingDecision is one autoscaler decision.
type ScalingDecision struct {
	Time   metav1.MicroTime `json:"time"`
	From   int32            `json:"from"`
	To     int32            `json:"to"`
	Ready  int32            `json:"ready"`
	Panic  bool             `json:"panic"`
	Reason string           `json:"reason"`
}

// ScalingPoint is one point of a revision's autoscaling trace: the
// averages of the metric the autoscaler saw over its windows, the count it
// wanted, the instances ready, and whether it was in panic mode. It holds
// until the next point.
type ScalingPoint struct {
	Time      metav1.MicroTime `json:"time"`
	Stable    float64          `json:"stable"`
	Panic     float64          `json:"panic"`
	Desired   int32            `json:"desired"`
	Ready     int32            `json:"ready"`
	Panicking bool             `json:"panicking"`
}

// ConditionStatus is True, False or Unknown.
type ConditionStatus string

// Condition statuses.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// ConditionReady is the one condition type wake sets on every resource.
const ConditionReady = "Ready"

// Condition is a Knative-style status condition.
type Condition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	Reason             string          `json:"reason,omitempty"`
	Message            string          `json:"message,omitempty"`
	LastTransitionTime metav1.Time     `json:"lastTransitionTime,omitempty"`
}

// FunctionList and RevisionList are what the admin API returns for lists.
type FunctionList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta carries the resourceVersion a Kubernetes list is watched
	// from; empty (and left out) in embedded mode.
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Function `json:"items"`
}

// TriggerList is a list of triggers.
type TriggerList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta carries the resourceVersion a Kubernetes list is watched
	// from; empty (and left out) in embedded mode.
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Trigger `json:"items"`
}

// RevisionList is a list of revisions.
type RevisionList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta carries the resourceVersion a Kubernetes list is watched
	// from; empty (and left out) in embedded mode.
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Revision `json:"items"`
}
