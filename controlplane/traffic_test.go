package controlplane_test

import (
	"context"
	"errors"
	"testing"

	api "github.com/wakefn/wake/api/v1"
)

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
