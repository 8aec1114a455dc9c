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
		rt, err := New(Options{StateDir: t.TempDir(), Observer: obs, Drainer: dr, TerminationGracePeriod: 5 * time.Second})
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
	}, runtimetest.Function{Container: api.Container{Command: []string{testfn}}, Timeout: waitTimeout})
}
