package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

func pct(n int64) *int64 { return &n }

var yes = func() *bool { b := true; return &b }()

// canarySplit is examples/hello/hello-v2.yaml's traffic.
var canarySplit = []api.TrafficTarget{
	{RevisionName: "hello-00001", Percent: pct(90)},
	{LatestRevision: yes, Percent: pct(10), Tag: "canary"},
}

func TestBuildTraffic(t *testing.T) {
	tests := []struct {
		name            string
		current         []api.TrafficTarget
		to, tags, untag []string
		want            []api.TrafficTarget
		wantErr         string
	}{
		{name: "rolling back keeps the canary's tag at 0%",
			current: canarySplit, to: []string{"hello-00001=100"},
			want: []api.TrafficTarget{
				{RevisionName: "hello-00001", Percent: pct(100)},
				{LatestRevision: yes, Percent: pct(0), Tag: "canary"},
			}},
		{name: "promoting moves the tag with its target",
			current: canarySplit, to: []string{"@latest=100"},
			want: []api.TrafficTarget{{LatestRevision: yes, Percent: pct(100), Tag: "canary"}}},
		{name: "untag drops a tag and its 0% target",
			current: []api.TrafficTarget{{RevisionName: "hello-00001", Percent: pct(100)}, {LatestRevision: yes, Percent: pct(0), Tag: "canary"}},
			untag:   []string{"canary"},
			want:    []api.TrafficTarget{{RevisionName: "hello-00001", Percent: pct(100)}}},
		{name: "rolling back and untagging at once",
			current: canarySplit, to: []string{"hello-00001=100"}, untag: []string{"canary"},
			want: []api.TrafficTarget{{RevisionName: "hello-00001", Percent: pct(100)}}},
		{name: "untag keeps a target with a share",
			current: canarySplit, untag: []string{"canary"},
			want: []api.TrafficTarget{{RevisionName: "hello-00001", Percent: pct(90)}, {LatestRevision: yes, Percent: pct(10)}}},
		{name: "a tag moved leaves no empty target",
			current: []api.TrafficTarget{{RevisionName: "hello-00001", Percent: pct(100)}, {LatestRevision: yes, Percent: pct(0), Tag: "canary"}},
			tags:    []string{"hello-00001=canary"},
			want:    []api.TrafficTarget{{RevisionName: "hello-00001", Percent: pct(100), Tag: "canary"}}},
		{name: "untag of a tag no revision has",
			current: canarySplit, untag: []string{"blue"},
			wantErr: "--untag blue: no revision has that tag (tags: canary)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildTraffic(tc.current, tc.to, tc.tags, tc.untag)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("traffic (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintTrafficSaysWhatChanged(t *testing.T) {
	fn := func(traffic ...api.TrafficTarget) *api.Function {
		f := &api.Function{}
		f.Namespace, f.Name, f.Status.Traffic = "default", "hello", traffic
		return f
	}
	before := fn(
		api.TrafficTarget{RevisionName: "hello-00001", Percent: pct(90)},
		api.TrafficTarget{RevisionName: "hello-00002", LatestRevision: yes, Percent: pct(10), Tag: "canary", URL: "http://canary-hello.default.localhost:8080"},
		api.TrafficTarget{RevisionName: "hello-00001", Percent: pct(0), Tag: "old", URL: "http://old-hello.default.localhost:8080"},
	)
	after := fn(
		api.TrafficTarget{RevisionName: "hello-00001", Percent: pct(100)},
		api.TrafficTarget{RevisionName: "hello-00002", LatestRevision: yes, Percent: pct(0), Tag: "canary", URL: "http://canary-hello.default.localhost:8080"},
	)
	var b strings.Builder
	printTraffic(&b, before, after)
	want := `traffic of default/hello:
  hello-00001 (untagged old): 90% → 100%
  hello-00002 (latest, tag canary): 10% → 0%  http://canary-hello.default.localhost:8080
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("printTraffic (-want +got):\n%s", diff)
	}
}

func TestPrintReadyNamesTagURLs(t *testing.T) {
	f := &api.Function{}
	f.Name = "hello"
	f.Status.URL = "http://hello.default.localhost:8080"
	f.Status.Traffic = []api.TrafficTarget{
		{RevisionName: "hello-00001", Percent: pct(90)},
		{RevisionName: "hello-00002", LatestRevision: yes, Percent: pct(10), Tag: "canary", URL: "http://canary-hello.default.localhost:8080"},
	}
	var b strings.Builder
	printReady(&b, f, "hello-00002")
	want := `hello: revision hello-00002 is ready at http://hello.default.localhost:8080 (10% of its requests)
hello: tag canary: http://canary-hello.default.localhost:8080 (revision hello-00002)
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("printReady (-want +got):\n%s", diff)
	}
}
