package v1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Function
		want Function
	}{
		{
			name: "empty function",
			in:   Function{Spec: FunctionSpec{Template: RevisionTemplate{Spec: RevisionSpec{Containers: []Container{{}}}}}},
			want: Function{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
				Spec: FunctionSpec{
					Template: RevisionTemplate{Spec: RevisionSpec{
						ContainerConcurrency: ptr[int64](0),
						TimeoutSeconds:       ptr[int64](DefaultTimeoutSeconds),
						Containers:           []Container{{Name: "user-container"}},
					}},
					Traffic: []TrafficTarget{{LatestRevision: ptr(true), Percent: ptr[int64](100)}},
				},
			},
		},
		{
			name: "set values are kept",
			in: Function{
				ObjectMeta: metav1.ObjectMeta{Namespace: "team-a"},
				Spec: FunctionSpec{
					Template: RevisionTemplate{Spec: RevisionSpec{
						ContainerConcurrency: ptr[int64](5),
						TimeoutSeconds:       ptr[int64](30),
						Containers:           []Container{{Name: "fn"}},
					}},
					Traffic: []TrafficTarget{{LatestRevision: ptr(true), Percent: ptr[int64](100)}},
				},
			},
			want: Function{
				ObjectMeta: metav1.ObjectMeta{Namespace: "team-a"},
				Spec: FunctionSpec{
					Template: RevisionTemplate{Spec: RevisionSpec{
						ContainerConcurrency: ptr[int64](5),
						TimeoutSeconds:       ptr[int64](30),
						Containers:           []Container{{Name: "fn"}},
					}},
					Traffic: []TrafficTarget{{LatestRevision: ptr(true), Percent: ptr[int64](100)}},
				},
			},
		},
		{
			name: "traffic targets",
			in: Function{Spec: FunctionSpec{Traffic: []TrafficTarget{
				{RevisionName: "hello-00001", Percent: ptr[int64](90)},
				{Percent: ptr[int64](10)},
				{Tag: "next", RevisionName: "hello-00002"},
				{LatestRevision: ptr(false), RevisionName: "hello-00003", Percent: ptr[int64](0)},
			}}},
			want: Function{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
				Spec: FunctionSpec{
					Template: RevisionTemplate{Spec: RevisionSpec{ContainerConcurrency: ptr[int64](0), TimeoutSeconds: ptr[int64](DefaultTimeoutSeconds)}},
					Traffic: []TrafficTarget{
						{RevisionName: "hello-00001", LatestRevision: ptr(false), Percent: ptr[int64](90)},
						{LatestRevision: ptr(true), Percent: ptr[int64](10)},
						{Tag: "next", RevisionName: "hello-00002", LatestRevision: ptr(false), Percent: ptr[int64](0)},
						{LatestRevision: ptr(false), RevisionName: "hello-00003", Percent: ptr[int64](0)},
					},
				},
			},
		},
		{
			name: "probes given get kubernetes defaults; none is added",
			in: Function{Spec: FunctionSpec{Template: RevisionTemplate{Spec: RevisionSpec{Containers: []Container{{
				Name:           "fn",
				ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Path: "/ready"}}, PeriodSeconds: 2},
				StartupProbe:   &Probe{FailureThreshold: 30},
			}}}}}},
			want: Function{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
				Spec: FunctionSpec{
					Template: RevisionTemplate{Spec: RevisionSpec{
						ContainerConcurrency: ptr[int64](0),
						TimeoutSeconds:       ptr[int64](DefaultTimeoutSeconds),
						Containers: []Container{{
							Name: "fn",
							ReadinessProbe: &Probe{
								ProbeHandler:  ProbeHandler{HTTPGet: &HTTPGetAction{Path: "/ready"}},
								PeriodSeconds: 2, TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1,
							},
							StartupProbe: &Probe{PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 30, SuccessThreshold: 1},
						}},
					}},
					Traffic: []TrafficTarget{{LatestRevision: ptr(true), Percent: ptr[int64](100)}},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			got.SetDefaults()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SetDefaults() mismatch (-want +got):\n%s", diff)
			}
			got.SetDefaults()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SetDefaults() is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}
