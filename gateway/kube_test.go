package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/internal/kubetest"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/kube"
)

// The tests of this file run against a real kube-apiserver
// (internal/kubetest); without its binaries they skip.

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

type noWaker struct{}

func (noWaker) Wake(api.RevisionKey) {}

type noObserver struct{}

func (noObserver) Update(api.RevisionKey, runtime.State) {}

// TestGatewayOnAPIServer runs a gateway (real router, activator and
// server) against a real API server, with the objects the controller
// would write: a request for NAME.NAMESPACE.DOMAIN reaches a pod of the
// revision the status routes to, a split status reaches both revisions,
// requests keep being served while the API server restarts, and a status
// change after the restart is followed.
func TestGatewayOnAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Kubectl(t, nil, "apply", "-f", filepath.Join("..", "manifests", "crds"))
	env.Kubectl(t, nil, "wait", "--for", "condition=established", "--timeout", "60s",
		"crd/functions.wake.dev", "crd/revisions.wake.dev")
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Each pod answers with its name, which starts with its revision's.
	env.ServePods(t, ns, kube.LabelRevision, kube.DefaultPort, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod, _ := kubetest.PodOf(r)
		fmt.Fprint(w, pod.Name)
	}))

	// The controller's part: Revision objects, their Deployments (through
	// the Runtime), the Function and its status.
	rt, err := kube.New(kube.Options{Client: env.Client, Observer: noObserver{}, Namespace: ns, Logger: zaptest.NewLogger(t).Named("runtime")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	revs := dyn.Resource(revisionsGVR).Namespace(ns)
	for i, name := range []string{"hello-00001", "hello-00002"} {
		rev := revisionObject(ns, name, "")
		rev.Labels[api.LabelGeneration] = fmt.Sprint(i + 1)
		created, err := revs.Create(ctx, toUnstructured(t, rev, api.KindRevision), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating revision %s: %v", name, err)
		}
		rev.UID = created.GetUID()
		if err := rt.Deploy(ctx, rev); err != nil {
			t.Fatal(err)
		}
		if err := rt.Scale(ctx, rev.Key(), 1); err != nil {
			t.Fatal(err)
		}
	}
	fns := dyn.Resource(functionsGVR).Namespace(ns)
	if _, err := fns.Create(ctx, toUnstructured(t, functionObject(ns, "hello", nil, nil), api.KindFunction), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setTraffic := func(revs []string, pcts []int64) {
		t.Helper()
		cur, err := fns.Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := toUnstructured(t, functionObject(ns, "hello", revs, pcts), api.KindFunction)
		cur.Object["status"] = st.Object["status"]
		if _, err := fns.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("writing status.traffic: %v", err)
		}
	}
	setTraffic([]string{"hello-00001"}, []int64{100})

	// The gateway's part.
	act := activator.New(activator.Options{Waker: noWaker{}, Logger: zaptest.NewLogger(t).Named("activator")})
	rtr := router.New(router.Options{Next: act})
	g, err := Start(ctx, Options{Dynamic: dyn, Client: env.Client, Namespace: ns, Router: rtr, Activator: act,
		Logger: zaptest.NewLogger(t).Named("gateway")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := router.NewServer(router.ServerOptions{Router: rtr, Fast: act})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	host := "hello." + ns + "." + DefaultDomain
	client := &http.Client{Timeout: 10 * time.Second}
	get := func() (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
		if err != nil {
			return "", err
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		return string(b), err
	}
	// answers sends n requests and counts the answers by revision.
	answers := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			body, err := get()
			if err != nil {
				got["error: "+err.Error()]++
				continue
			}
			if parts := strings.SplitN(body, "-", 3); len(parts) == 3 {
				body = parts[0] + "-" + parts[1]
			}
			got[body]++
		}
		return got
	}
	env.Eventually(t, time.Minute, "hello-00001 to answer", func() bool { return answers(1)["hello-00001"] == 1 })

	setTraffic([]string{"hello-00001", "hello-00002"}, []int64{50, 50})
	env.Eventually(t, time.Minute, "both revisions to answer", func() bool {
		got := answers(20)
		return got["hello-00001"] > 0 && got["hello-00002"] > 0 && got["hello-00001"]+got["hello-00002"] == 20
	})

	// Requests go on while the API server restarts: the gateway keeps its
	// table and endpoints.
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			sent.Add(1)
			if _, err := get(); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	env.RestartAPIServer(t)
	time.Sleep(time.Second) // and a while after, as the informers relist
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || sent.Load() == 0 {
		t.Errorf("during the API server's restart: %d of %d requests failed (first: %v)", failed.Load(), sent.Load(), firstErr.Load())
	} else {
		t.Logf("during the API server's restart: %d requests, all served", sent.Load())
	}

	setTraffic([]string{"hello-00002"}, []int64{100})
	env.Eventually(t, time.Minute, "only hello-00002 to answer after the restart", func() bool {
		return answers(10)["hello-00002"] == 10
	})
}
