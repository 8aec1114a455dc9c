package controlplane_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

func TestApplyingTheSameManifestAgainChangesNothing(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	applyTwice := func(manifest string) []api.FunctionKey {
		t.Helper()
		docs, err := api.Decode("fn.yaml", []byte(manifest))
		if err != nil {
			t.Fatal(err)
		}
		applied, err := cp.Apply(context.Background(), docs, controlplane.ApplyOptions{BaseDir: "/srv"})
		if err != nil {
			t.Fatal(err)
		}
		return applied.Unchanged
	}
	hello := []api.FunctionKey{{Namespace: "default", Name: "hello"}}
	for _, step := range []struct {
		name     string
		manifest string
		want     []api.FunctionKey
	}{
		{"new", v1, nil},
		{"again", v1, hello},
		{"a new template", v2, nil},
		{"again", v2, hello},
		{"a label", strings.Replace(v2, "metadata:\n", "metadata:\n  labels: {team: a}\n", 1), nil},
	} {
		if diff := cmp.Diff(step.want, applyTwice(step.manifest)); diff != "" {
			t.Errorf("%s: unchanged (-want +got):\n%s", step.name, diff)
		}
	}
	if revs := cp.Revisions("default", "hello"); len(revs) != 2 {
		t.Errorf("%d revisions, want 2", len(revs))
	}
}

func TestSetTrafficToARevisionThatDoesNotExist(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	apply(t, cp, v1)
	ready(cp, "hello-00001")
	apply(t, cp, v2)
	key := api.FunctionKey{Namespace: "default", Name: "hello"}
	hundred := int64(100)
	_, err := cp.SetTraffic(context.Background(), key, []api.TrafficTarget{{RevisionName: "nosuch", Percent: &hundred}})
	want := `traffic: revision "nosuch" of function default/hello does not exist (revisions: hello-00001, hello-00002)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	// Callers that list field problems (the console) still find them.
	var problems api.Errors
	if !errors.As(err, &problems) || len(problems) != 1 || problems[0].Path != "spec.traffic[0].revisionName" {
		t.Errorf("problems %v", problems)
	}
}
