package process_test

import (
	"context"
	"fmt"
	"log"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/process"
)

// printer is an Observer printing every change.
type printer struct{}

func (printer) Update(rev api.RevisionKey, s runtime.State) {
	fmt.Printf("%s: %d ready, %d starting of %d\n", rev, len(s.Ready), s.Starting, s.Desired)
}

func Example() {
	rt, err := process.New(process.Options{
		StateDir: "/var/lib/wake",
		Observer: printer{},
		// Drainer: the activator, so instances finish their requests first.
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	rev := &api.Revision{}
	rev.Namespace, rev.Name = "default", "hello-00001"
	rev.Labels = map[string]string{api.LabelFunction: "hello"}
	rev.Spec.Containers = []api.Container{{Command: []string{"/usr/local/bin/hello"}}}
	if err := rt.Deploy(ctx, rev); err != nil {
		log.Fatal(err)
	}
	if err := rt.Scale(ctx, rev.Key(), 2); err != nil { // returns at once
		log.Fatal(err)
	}
	// ... serve; then, when wake exits:
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}
