package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/testimage"
	"github.com/wakefn/wake/runtime/cgroup"
)

// needContainers skips a test on a machine that cannot run containers
// (not root, no runc or CNI plugins), unless WAKE_CONTAINERS_REQUIRED is
// set (make test sets it where hack/install-containers.sh succeeded).
func needContainers(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "containers need root"
	case lookPath("runc") != nil:
		why = "no runc on PATH (hack/install-containers.sh installs it)"
	case fileMissing("/usr/lib/cni/bridge") && fileMissing("/opt/cni/bin/bridge"):
		why = "no CNI plugins (hack/install-containers.sh installs them)"
	}
	if why == "" {
		return
	}
	if os.Getenv("WAKE_CONTAINERS_REQUIRED") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func lookPath(name string) error { _, err := exec.LookPath(name); return err }

func fileMissing(p string) bool { _, err := os.Stat(p); return err != nil }

// knativeService is a Knative Service as Knative's samples publish it:
// an image and nothing to run it with, plus what extra lines says under
// the container.
func knativeService(name, image string, annotations map[string]string, container, traffic string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  template:\n", name)
	if len(annotations) > 0 {
		b.WriteString("    metadata:\n      annotations:\n")
		for k, v := range annotations {
			fmt.Fprintf(&b, "        %s: %q\n", k, v)
		}
	}
	fmt.Fprintf(&b, "    spec:\n      containers:\n        - image: %s\n          ports:\n            - containerPort: 8080\n", image)
	b.WriteString(container)
	if traffic != "" {
		b.WriteString("  traffic:\n" + traffic)
	}
	return b.String()
}

// containersLeft lists the containers runc knows, and the instance control
// groups that exist, for the wake serve on stateDir.
func containersLeft(t *testing.T, stateDir string) (ids, groups []string) {
	t.Helper()
	dir := filepath.Join(stateDir, "containers")
	entries, _ := os.ReadDir(filepath.Join(dir, "runc"))
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids, cgroup.List("wake/" + cgroup.Scope(dir))
}

func condition(r api.Revision, typ string) *api.Condition {
	return api.GetCondition(r.Status.Conditions, typ)
}

// TestKnativeImageServiceRunsUnchanged is the Knative user's path: a
// Service with only an image applies, is pinned to its digest, wakes from
// zero as a container, splits 90/10 between the digests of two tags, and
// goes back to zero leaving no container and no control group.
func TestKnativeImageServiceRunsUnchanged(t *testing.T) {
	needContainers(t)
	t.Parallel()
	reg := testimage.Registry(t)
	repo := reg + "/fn/hello"
	d1 := testimage.Push(t, repo+":1.0", "GREETING=one", "TESTFN_SPAWN_CHILD=setsid")
	state := t.TempDir()
	w := startWake(t, state, "--scale-to-zero-grace-period", "1s")
	ann := map[string]string{api.AnnotationWindow: "2s"}
	out := w.apply(knativeService("hello", repo+":1.0", ann, "", ""))
	if want := "hello: image " + repo + ":1.0 resolved to " + d1; !strings.Contains(out, want) {
		t.Fatalf("wake apply printed %q, want a line %q", out, want)
	}
	eventually(t, 60*time.Second, "hello-00001 ready", func() bool {
		c := condition(w.revision("hello", "hello-00001"), api.ConditionReady)
		return c != nil && c.Status == api.ConditionTrue
	})
	r1 := w.revision("hello", "hello-00001")
	if r1.Status.ImageDigest != d1 {
		t.Fatalf("hello-00001 is pinned to %q, want the digest %s of :1.0", r1.Status.ImageDigest, d1)
	}
	if c := condition(r1, "ImagePulled"); c == nil || c.Status != api.ConditionTrue || !strings.Contains(c.Message, d1) {
		t.Fatalf("ImagePulled = %+v, want True naming %s", c, d1)
	}
	if res := w.mustGet("hello.default.localhost", "/"); res.code != 200 || res.body != "hello-00001 one\n" {
		t.Fatalf("GET / = %d %q", res.code, res.body)
	}

	// The tag moves on; hello-00001 keeps its digest, hello-00002 gets the
	// new one, and the traffic splits 90/10 across them.
	d2 := testimage.Push(t, repo+":1.1", "GREETING=two")
	w.apply(knativeService("hello", repo+":1.1", ann, "",
		"    - revisionName: hello-00001\n      percent: 90\n    - latestRevision: true\n      percent: 10\n"))
	eventually(t, 60*time.Second, "hello-00002 ready", func() bool {
		c := condition(w.revision("hello", "hello-00002"), api.ConditionReady)
		return c != nil && c.Status == api.ConditionTrue
	})
	if got := w.revision("hello", "hello-00002").Status.ImageDigest; got != d2 {
		t.Fatalf("hello-00002 is pinned to %q, want %s", got, d2)
	}
	if got := w.revision("hello", "hello-00001").Status.ImageDigest; got != d1 {
		t.Fatalf("hello-00001 moved to %q with its tag; want it kept at %s", got, d1)
	}
	counts := map[string]int{}
	for range 200 {
		res := w.mustGet("hello.default.localhost", "/")
		if res.code != 200 {
			t.Fatalf("GET / = %d %q", res.code, res.body)
		}
		counts[res.body]++
	}
	if one, two := counts["hello-00001 one\n"], counts["hello-00002 two\n"]; one+two != 200 || two < 5 || two > 45 {
		t.Fatalf("200 requests split %v, want about 180/20", counts)
	}

	// Idle: both revisions go to zero, and nothing of their containers is
	// left, not even the setsid child of hello-00001.
	eventually(t, 60*time.Second, "both revisions at zero with no container left", func() bool {
		for _, name := range []string{"hello-00001", "hello-00002"} {
			if r := w.revision("hello", name); r.Status.ActualReplicas != 0 || r.Status.DesiredReplicas != 0 {
				return false
			}
		}
		ids, groups := containersLeft(t, state)
		return len(ids) == 0 && len(groups) == 0
	})
	// And it wakes from zero as a container, timing the create phase.
	res := w.mustGet("hello.default.localhost", "/")
	if res.code != 200 || !strings.Contains(res.header.Get("Server-Timing"), "wake-create") {
		t.Fatalf("GET / from zero = %d %q, Server-Timing %q; want 200 with a wake-create phase", res.code, res.body, res.header.Get("Server-Timing"))
	}
	t.Logf("wake from zero: Server-Timing %s", res.header.Get("Server-Timing"))
}

// TestImageFailuresSayWhy: an unknown tag and an unreachable registry
// give the revision a clear ImagePulled condition, and a request a 503
// at once naming it.
func TestImageFailuresSayWhy(t *testing.T) {
	needContainers(t)
	t.Parallel()
	reg := testimage.Registry(t)
	testimage.Push(t, reg+"/fn/hello:1.0")
	w := startWake(t, "")
	for _, c := range []struct{ name, image, reason string }{
		{"badtag", reg + "/fn/hello:9.9", "ImageNotFound"},
		{"noregistry", "127.0.0.1:1/fn/hello:1.0", "RegistryUnavailable"},
	} {
		_, errOut, err := w.cli("apply", "-f", writeManifest(t, knativeService(c.name, c.image, nil, "", "")))
		if err == nil || !strings.Contains(errOut, c.image) {
			t.Fatalf("%s: wake apply = %v, %q; want a failure naming the image", c.name, err, errOut)
		}
		t.Logf("%s: wake apply says: %s", c.name, strings.TrimSpace(errOut))
		eventually(t, 30*time.Second, c.name+": ImagePulled False "+c.reason, func() bool {
			cond := condition(w.revision(c.name, c.name+"-00001"), "ImagePulled")
			return cond != nil && cond.Status == api.ConditionFalse && cond.Reason == c.reason
		})
		ready := condition(w.revision(c.name, c.name+"-00001"), api.ConditionReady)
		if ready == nil || ready.Status != api.ConditionFalse || !strings.Contains(ready.Message, c.image) {
			t.Fatalf("%s: Ready = %+v, want False naming the image", c.name, ready)
		}
		start := time.Now()
		res := w.mustGet(c.name+".default.localhost", "/")
		if res.code != 503 || !strings.Contains(res.body, c.image) {
			t.Fatalf("%s: GET / = %d %q, want 503 naming the image", c.name, res.code, res.body)
		}
		t.Logf("%s: %d in %v: %s", c.name, res.code, time.Since(start), strings.TrimSpace(res.body))
	}
}

// TestImageLimitsAndIsolation: two instances of an image that hard-codes
// its port run at once (each has its own network namespace), and one over
// its memory limit is killed and reported OOMKilled.
func TestImageLimitsAndIsolation(t *testing.T) {
	needContainers(t)
	t.Parallel()
	reg := testimage.Registry(t)
	testimage.Push(t, reg+"/fn/fixed:1.0", "TESTFN_PORT=8080")
	w := startWake(t, "")
	w.apply(knativeService("fixed", reg+"/fn/fixed:1.0", map[string]string{api.AnnotationMinScale: "2"},
		"          env:\n            - name: PORT_IGNORED\n              value: \"yes\"\n          resources:\n            limits:\n              memory: 64Mi\n", ""))
	eventually(t, 60*time.Second, "two instances of fixed ready", func() bool {
		return w.revision("fixed", "fixed-00001").Status.ActualReplicas == 2
	})
	if res := w.mustGet("fixed.default.localhost", "/"); res.code != 200 {
		t.Fatalf("GET / = %d %q", res.code, res.body)
	}
	res, err := w.get("fixed.default.localhost", "/hog?mb=200")
	t.Logf("the hog's request: %+v, %v", res, err)
	eventually(t, 30*time.Second, "the hog reported OOMKilled", func() bool {
		lt := w.revision("fixed", "fixed-00001").Status.LastTermination
		return lt != nil && lt.Reason == "OOMKilled" && strings.Contains(lt.Message, "64Mi")
	})
	if out := w.mustCLI("describe", "revision", "fixed-00001"); !strings.Contains(out, "OOMKilled") {
		t.Fatalf("wake describe revision does not say OOMKilled:\n%s", out)
	}
}
