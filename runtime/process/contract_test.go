package process

import (
	"context"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/runtimetest"
)

func TestContract(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T, obs runtime.Observer, dr runtime.Drainer) runtime.Runtime {
		return contractRuntime(t, Options{StateDir: t.TempDir(), Observer: obs, Drainer: dr})
	}, runtimetest.Function{Container: api.Container{Command: []string{testfn}}, Timeout: waitTimeout})
}

// contractRuntime is a Runtime for the contract suite, with a 5s grace
// period, shut down (within waitTimeout) when t ends; the cleanups t had
// before run after.
func contractRuntime(t *testing.T, opts Options) *Runtime {
	opts.TerminationGracePeriod = 5 * time.Second
	rt, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return rt
}
