// Package testengine gives tests outside runtime/container a container
// engine, or skips them where this machine cannot run containers.
package testengine

import (
	"os"
	"testing"

	"github.com/wakefn/wake/runtime/container"
)

// New returns a container engine on stateDir, closed when t ends, or
// skips t with the reason this machine cannot run containers; where
// WAKE_CONTAINERS_REQUIRED=1 (make test on a machine that can), it fails
// instead.
func New(t testing.TB, stateDir string) *container.Engine {
	t.Helper()
	e, err := container.New(container.Options{StateDir: stateDir})
	if err != nil {
		if os.Getenv("WAKE_CONTAINERS_REQUIRED") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
