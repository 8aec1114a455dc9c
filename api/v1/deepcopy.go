package v1

import "encoding/json"

// DeepCopy methods. The control plane copies objects when it hands them
// out and when it derives revisions from templates; these go through JSON,
// which the types round-trip exactly. They are off the request path.
// DeepCopyObject (register.go) uses them too: tens of microseconds per
// object, where generated code would take under one. Informers copy on
// every event, so generated methods are worth it once a cluster holds
// many functions.

// DeepCopy returns a copy of f sharing nothing with it.
func (f *Function) DeepCopy() *Function { return deepCopy(f) }

// DeepCopy returns a copy of r sharing nothing with it.
func (r *Revision) DeepCopy() *Revision { return deepCopy(r) }

// DeepCopy returns a copy of s sharing nothing with it.
func (s *RevisionSpec) DeepCopy() *RevisionSpec { return deepCopy(s) }

func deepCopy[T any](in *T) *T {
	if in == nil {
		return nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		panic("v1: marshalling a resource cannot fail: " + err.Error())
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic("v1: a marshalled resource must unmarshal: " + err.Error())
	}
	return out
}

// DeepCopy returns a copy of s sharing nothing with it.
func (s *RolloutStatus) DeepCopy() *RolloutStatus { return deepCopy(s) }
