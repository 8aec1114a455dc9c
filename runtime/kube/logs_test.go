package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// TestLogsPrefixesEachPod checks Logs' plumbing on client-go's fake
// clientset, whose pods/log answers "fake logs": KWOK runs no container,
// so the real API server has no log to serve in the tests.
func TestLogsPrefixesEachPod(t *testing.T) {
	client := fake.NewClientset()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, name := range []string{"hello-00001-b", "hello-00001-a"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Namespace: "team", Name: name, Labels: map[string]string{LabelRevision: "hello-00001"},
			CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(i) * time.Second)),
		}}
		if _, err := client.CoreV1().Pods("team").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := New(Options{Client: client, Observer: &lastState{}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	if !cache.WaitForCacheSync(ctx.Done(), rt.synced...) {
		t.Fatal("informers not synced")
	}
	key := api.RevisionKey{Namespace: "team", Name: "hello-00001"}
	var out strings.Builder
	if err := rt.Logs(ctx, key, runtime.LogOptions{Tail: 10}, &out); err != nil {
		t.Fatal(err)
	}
	want := "[hello-00001-b] fake logs\n[hello-00001-a] fake logs\n"
	if out.String() != want {
		t.Errorf("Logs wrote %q, want %q", out.String(), want)
	}
}
