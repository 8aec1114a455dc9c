package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCondition sets a condition in conds, keeping its transition time when
// its status does not change. It returns the updated slice.
func SetCondition(conds []Condition, c Condition, now metav1.Time) []Condition {
	for i := range conds {
		if conds[i].Type != c.Type {
			continue
		}
		if conds[i].Status == c.Status {
			c.LastTransitionTime = conds[i].LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		conds[i] = c
		return conds
	}
	c.LastTransitionTime = now
	return append(conds, c)
}

// GetCondition returns the condition of the given type, or nil.
func GetCondition(conds []Condition, typ string) *Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// IsReady tells whether the Ready condition is True.
func IsReady(conds []Condition) bool {
	c := GetCondition(conds, ConditionReady)
	return c != nil && c.Status == ConditionTrue
}
