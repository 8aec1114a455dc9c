package kube

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/runtime"
)

// gateDrainer holds every Drain until release is closed, and says which
// endpoint each began with.
type gateDrainer struct {
	began   chan runtime.Endpoint
	release chan struct{}
}

func (d *gateDrainer) Drain(ctx context.Context, _ api.RevisionKey, ep runtime.Endpoint) error {
	d.began <- ep
	select {
	case <-d.release:
	case <-ctx.Done():
	}
	return nil
}

// TestScaleUpDuringDrainKeepsThePod checks the victim of a scale-down,
// drained but not yet stopped, when a scale-up comes during its drain: it
// is not deleted (and another pod started), it returns to Ready and loses
// its deletion cost.
func TestScaleUpDuringDrainKeepsThePod(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	env.ServePods(t, ns, LabelRevision, DefaultPort, &fakeProcesses{client: env.Client, ns: ns, crashed: map[string]bool{}})
	obs := &lastState{}
	dr := &gateDrainer{began: make(chan runtime.Endpoint, 1), release: make(chan struct{})}
	rt, err := New(Options{Client: env.Client, Observer: obs, Drainer: dr, Namespace: ns, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	rev := &api.Revision{}
	rev.Namespace, rev.Name = ns, "undo-00001"
	rev.Labels = map[string]string{api.LabelFunction: "undo"}
	rev.Spec.Containers = []api.Container{{Image: "registry.invalid/wake/testfn:contract"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rt.Deploy(ctx, rev); err != nil {
		t.Fatal(err)
	}
	key := rev.Key()
	readyIDs := func() []string {
		var ids []string
		for _, ep := range obs.get(key).Ready {
			ids = append(ids, ep.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if err := rt.Scale(ctx, key, 2); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, time.Minute, "2 ready", func() bool { return len(readyIDs()) == 2 })
	before := readyIDs()

	if err := rt.Scale(ctx, key, 1); err != nil {
		t.Fatal(err)
	}
	var victim runtime.Endpoint
	select {
	case victim = <-dr.began:
	case <-ctx.Done():
		t.Fatal("no drain began after scaling down")
	}
	if ids := readyIDs(); len(ids) != 1 || ids[0] == victim.ID {
		t.Fatalf("Ready %v during the drain of %s, want the other pod only", ids, victim.ID)
	}
	p, err := env.Client.CoreV1().Pods(ns).Get(ctx, victim.ID, metav1.GetOptions{})
	if err != nil || p.Annotations[corev1.PodDeletionCost] != victimCost {
		t.Fatalf("victim %s: annotations %v, %v; want the deletion cost %s", victim.ID, p.Annotations, err, victimCost)
	}
	if err := rt.Scale(ctx, key, 2); err != nil {
		t.Fatal(err)
	}
	close(dr.release)

	env.Eventually(t, time.Minute, "the victim back in Ready", func() bool { return slices.Equal(readyIDs(), before) })
	env.Eventually(t, time.Minute, "the victim's deletion cost removed", func() bool {
		p, err := env.Client.CoreV1().Pods(ns).Get(ctx, victim.ID, metav1.GetOptions{})
		_, marked := p.Annotations[corev1.PodDeletionCost]
		return err == nil && !marked
	})
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRevision + "=" + rev.Name})
	if err != nil || len(pods.Items) != 2 {
		t.Errorf("%d pods, %v; want the same 2, none deleted or added", len(pods.Items), err)
	}
	sc, err := env.Client.AppsV1().Deployments(ns).GetScale(ctx, rev.Name, metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 2 {
		t.Errorf("scale %v, %v; want 2 (never lowered)", sc, err)
	}
}
