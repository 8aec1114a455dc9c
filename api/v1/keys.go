package v1

import "fmt"

// DefaultNamespace is the namespace of a manifest that names none.
const DefaultNamespace = "default"

// FunctionKey identifies a function.
type FunctionKey struct {
	Namespace string
	Name      string
}

func (k FunctionKey) String() string { return k.Namespace + "/" + k.Name }

// RevisionKey identifies a revision. The hot path uses it as a map key, so
// it stays a small comparable value.
type RevisionKey struct {
	Namespace string
	Name      string
}

func (k RevisionKey) String() string { return k.Namespace + "/" + k.Name }

// TriggerKey identifies a trigger.
type TriggerKey struct {
	Namespace string
	Name      string
}

func (k TriggerKey) String() string { return k.Namespace + "/" + k.Name }

// Key returns the trigger's key.
func (t *Trigger) Key() TriggerKey { return TriggerKey{t.Namespace, t.Name} }

// Key returns the function's key.
func (f *Function) Key() FunctionKey { return FunctionKey{f.Namespace, f.Name} }

// Key returns the revision's key.
func (r *Revision) Key() RevisionKey { return RevisionKey{r.Namespace, r.Name} }

// FunctionName is the function the revision belongs to.
func (r *Revision) FunctionName() string { return r.Labels[LabelFunction] }

// RevisionName is the name of a function's n-th revision: NAME-0000N.
func RevisionName(function string, n int64) string {
	return fmt.Sprintf("%s-%05d", function, n)
}

// Container returns the revision's one container, or an empty one when a
// revision that never passed validation is asked.
func (s *RevisionSpec) Container() *Container {
	if len(s.Containers) == 0 {
		return &Container{}
	}
	return &s.Containers[0]
}

// H2C tells whether the function speaks cleartext HTTP/2 (a port named h2c).
func (s *RevisionSpec) H2C() bool {
	c := s.Container()
	return len(c.Ports) > 0 && c.Ports[0].Name == PortNameH2C
}

// ConcurrencyLimit is the revision's containerConcurrency, 0 for none.
func (s *RevisionSpec) ConcurrencyLimit() int {
	if s.ContainerConcurrency == nil {
		return 0
	}
	return int(*s.ContainerConcurrency)
}

// Timeout is the revision's request timeout in seconds.
func (s *RevisionSpec) Timeout() int64 {
	if s.TimeoutSeconds == nil {
		return DefaultTimeoutSeconds
	}
	return *s.TimeoutSeconds
}

// PercentOrZero is the target's percent; an unset one is 0.
func (t *TrafficTarget) PercentOrZero() int64 {
	if t.Percent == nil {
		return 0
	}
	return *t.Percent
}
