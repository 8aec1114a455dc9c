package v1

// Defaults and bounds of revision fields.
const (
	// DefaultTimeoutSeconds bounds a request, queueing included (Knative's
	// default).
	DefaultTimeoutSeconds = 300
	// MaxTimeoutSeconds is the largest timeoutSeconds accepted.
	MaxTimeoutSeconds = 3600
	// MaxContainerConcurrency is the largest containerConcurrency accepted
	// (Knative's container-concurrency-max-limit default).
	MaxContainerConcurrency = 1000

	// Probe defaults, Kubernetes' own.
	DefaultProbePeriodSeconds    = 10
	DefaultProbeTimeoutSeconds   = 1
	DefaultProbeFailureThreshold = 3
	DefaultProbeSuccessThreshold = 1

	// DefaultPort is the port a function listens on when its manifest names
	// none. In embedded mode every instance gets its own port in PORT instead.
	DefaultPort = 8080
)
