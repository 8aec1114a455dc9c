package v1

// SetDefaults fills in what a manifest may leave out, with Knative's
// defaults, so that the rest of wake reads one explicit form. It is
// idempotent: defaulting a defaulted function changes nothing, so the
// control plane can default on every read and write.
func (f *Function) SetDefaults() {
	if f.Namespace == "" {
		f.Namespace = DefaultNamespace
	}
	f.Spec.Template.Spec.setDefaults()
	if len(f.Spec.Traffic) == 0 {
		f.Spec.Traffic = []TrafficTarget{{LatestRevision: ptr(true), Percent: ptr[int64](100)}}
	}
	for i := range f.Spec.Traffic {
		t := &f.Spec.Traffic[i]
		if t.LatestRevision == nil {
			// A target that names no revision follows the latest one.
			t.LatestRevision = ptr(t.RevisionName == "")
		}
		if t.Percent == nil {
			t.Percent = ptr[int64](0)
		}
	}
}

// defaultContainerName is the name Knative gives the one container.
const defaultContainerName = "user-container"

func (s *RevisionSpec) setDefaults() {
	if s.TimeoutSeconds == nil {
		s.TimeoutSeconds = ptr[int64](DefaultTimeoutSeconds)
	}
	if s.ContainerConcurrency == nil {
		s.ContainerConcurrency = ptr[int64](0)
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		if c.Name == "" {
			c.Name = defaultContainerName
		}
		// No readiness probe is added: the runtime reads nil as a TCP
		// connect to the instance's port, which a default probe here would
		// have to spell out for each mode.
		for _, p := range []*Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			p.setDefaults()
		}
	}
}

// setDefaults gives a probe's zero fields Kubernetes' defaults.
func (p *Probe) setDefaults() {
	if p == nil {
		return
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = DefaultProbePeriodSeconds
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = DefaultProbeTimeoutSeconds
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultProbeFailureThreshold
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultProbeSuccessThreshold
	}
}

func ptr[T any](v T) *T { return &v }
