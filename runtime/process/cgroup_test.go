package process

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/cgroup"
)

// needCgroups skips a test where instances cannot be put in control
// groups (not root), unless the machine is one that must run it.
func needCgroups(t *testing.T) {
	t.Helper()
	if err := cgroup.Available(); err != nil {
		if os.Getenv("WAKE_CONTAINERS_REQUIRED") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// TestSetsidChildDiesWithItsInstance: a child that left its instance's
// process group (setsid, as a daemon does) is still in the instance's
// control group, and dies with the instance at scale-down.
func TestSetsidChildDiesWithItsInstance(t *testing.T) {
	needCgroups(t)
	e := newEnv(t, Options{})
	rev := testRevision("daemon-00001", "TESTFN_SPAWN_CHILD=setsid")
	e.deploy(t, rev, 1)
	e.rec.waitFor(t, "one ready", readyN(1))
	childRE := regexp.MustCompile(`testfn: child pid (\d+)`)
	child := 0
	eventually(t, "the child's pid logged", func() bool {
		var b strings.Builder
		if err := e.rt.Logs(context.Background(), rev.Key(), runtime.LogOptions{}, &b); err != nil {
			t.Fatal(err)
		}
		if m := childRE.FindStringSubmatch(b.String()); m != nil {
			child, _ = strconv.Atoi(m[1])
		}
		return child != 0
	})
	if !alive(child) {
		t.Fatalf("the setsid child %d is not running", child)
	}
	e.scale(t, rev.Key(), 0)
	e.rec.waitFor(t, "no instance", func(s runtime.State) bool { return len(s.Ready) == 0 && s.Starting == 0 })
	eventually(t, "the setsid child gone", func() bool { return !alive(child) })
	if left := cgroup.List(e.rt.cgroups); len(left) != 0 {
		eventually(t, "the instance's cgroup removed", func() bool { return len(cgroup.List(e.rt.cgroups)) == 0 })
	}
}

// TestProcessMemoryLimit: a command's resources.limits.memory holds, and
// an instance killed at it is reported OOMKilled.
func TestProcessMemoryLimit(t *testing.T) {
	needCgroups(t)
	e := newEnv(t, Options{})
	rev := testRevision("hog-00001")
	rev.Spec.Containers[0].Resources = &api.ResourceRequirements{Limits: map[string]resource.Quantity{"memory": resource.MustParse("64Mi")}}
	e.deploy(t, rev, 1)
	st := e.rec.waitFor(t, "one ready", readyN(1))
	_, _ = tryGet(st.Ready[0].Addr, "/hog?mb=200")
	e.rec.waitFor(t, "OOMKilled", func(s runtime.State) bool {
		return s.LastExit != nil && s.LastExit.Reason == runtime.ReasonOOMKilled && strings.Contains(s.LastExit.Message, "64Mi")
	})
}
