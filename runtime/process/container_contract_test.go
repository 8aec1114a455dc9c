package process

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/testengine"
	"github.com/wakefn/wake/internal/testimage"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/image"
	"github.com/wakefn/wake/runtime/runtimetest"
)

// TestContractImages runs the shared contract with image revisions: each
// instance a container of testfn's image, pulled from a registry in this
// process.
func TestContractImages(t *testing.T) {
	ref := testimage.Registry(t) + "/fn/testfn:1.0"
	testimage.Push(t, ref)
	runtimetest.Run(t, func(t *testing.T, obs runtime.Observer, dr runtime.Drainer) runtime.Runtime {
		dir := t.TempDir()
		engine := testengine.New(t, filepath.Join(dir, "containers"))
		images, err := image.Open(image.Options{Dir: filepath.Join(dir, "images")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // after the Shutdown contractRuntime registers
			if ids := engine.Containers(); len(ids) > 0 {
				t.Errorf("containers left after Shutdown: %v", ids)
			}
		})
		return contractRuntime(t, Options{StateDir: dir, Observer: obs, Drainer: dr, Images: images, Containers: engine})
	}, runtimetest.Function{Container: api.Container{Image: ref}, Timeout: waitTimeout})
}

// TestImageWithoutEngineSaysWhy: with no container engine, an image
// revision fails at once with ContainersUnavailable and the reason.
func TestImageWithoutEngineSaysWhy(t *testing.T) {
	e := newEnv(t, Options{ContainersUnavailable: errNoEngine})
	rev := testRevision("img-00001")
	rev.Spec.Containers[0] = api.Container{Image: "registry.example/fn:1.0"}
	e.deploy(t, rev, 1)
	e.rec.waitFor(t, "ContainersUnavailable", func(s runtime.State) bool {
		return s.Failure != nil && s.Failure.Reason == runtime.ReasonContainersUnavailable &&
			s.Failure.Message != "" && s.Failure.Backoff(time.Now())
	})
}

var errNoEngine = errors.New("container engine: running images needs root")
