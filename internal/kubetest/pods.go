package kubetest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// PodServers stands in for the processes of the pods matching a selector:
// it serves a handler on PODIP:PORT for every such pod with an IP, from
// when KWOK gives the pod its IP until the pod is deleted or leaves the
// selector. Made by ServePods.
type PodServers struct {
	e       *Env
	t       testing.TB
	port    int
	handler http.Handler

	mu      sync.Mutex
	servers map[string]*podServer // by pod namespace/name
	stopped map[string]bool       // pods whose "process" Stop killed
}

type podServer struct {
	ip  string
	srv *http.Server
}

// ServePods starts serving handler on port of every pod in namespace that
// matches selector (a label selector such as "app=hello"), now and as pods
// come and go, and stops when t ends. Pod IPs are in e.PodCIDR, on
// this machine; a pod with an IP outside it fails t and is never bound.
func (e *Env) ServePods(t testing.TB, namespace, selector string, port int, handler http.Handler) *PodServers {
	t.Helper()
	ps := &PodServers{e: e, t: t, port: port, handler: handler, servers: map[string]*podServer{}, stopped: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(e.Client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { ps.sync(obj) },
		UpdateFunc: func(_, obj any) { ps.sync(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				ps.close(p.Namespace + "/" + p.Name)
			}
		},
	})
	if err != nil {
		t.Fatalf("kubetest: ServePods: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
		ps.mu.Lock()
		keys := make([]string, 0, len(ps.servers))
		for k := range ps.servers {
			keys = append(keys, k)
		}
		ps.mu.Unlock()
		for _, k := range keys {
			ps.close(k)
		}
	})
	return ps
}

// sync starts, moves or stops the server of one pod.
func (ps *PodServers) sync(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key := p.Namespace + "/" + p.Name
	ip := p.Status.PodIP
	if p.DeletionTimestamp != nil || ip == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		ps.close(key)
		return
	}
	ps.mu.Lock()
	cur, stopped := ps.servers[key], ps.stopped[key]
	ps.mu.Unlock()
	if stopped || cur != nil && cur.ip == ip {
		return
	}
	ps.close(key)
	if parsed := net.ParseIP(ip); parsed == nil || !ps.e.podNet.Contains(parsed) {
		ps.t.Errorf("kubetest: pod %s has IP %s, outside the pod CIDR %s; not serving it", key, ip, ps.e.PodCIDR)
		return
	}
	// Two live pods never share an IP: a server still on this one belongs
	// to a pod that is gone, whose deletion the informer has not brought
	// yet (KWOK hands a freed IP out again at once).
	ps.mu.Lock()
	var previous []string
	for k, s := range ps.servers {
		if s.ip == ip && k != key {
			previous = append(previous, k)
		}
	}
	ps.mu.Unlock()
	for _, k := range previous {
		ps.close(k)
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(ps.port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		ps.t.Errorf("kubetest: serving pod %s: %v", key, err)
		return
	}
	podCtx := context.WithValue(context.Background(), podKey{}, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	srv := &http.Server{
		Handler:           ps.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return podCtx },
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ps.t.Logf("kubetest: pod %s server: %v", key, err)
		}
	}()
	ps.mu.Lock()
	ps.servers[key] = &podServer{ip: ip, srv: srv}
	ps.mu.Unlock()
}

// close stops the server of the pod with key, if there is one. Open
// connections are closed at once, as a killed process's would be.
func (ps *PodServers) close(key string) {
	ps.mu.Lock()
	s := ps.servers[key]
	delete(ps.servers, key)
	ps.mu.Unlock()
	if s != nil {
		s.srv.Close()
	}
}

type podKey struct{}

// PodOf returns the pod whose server r came to, in a handler given to
// ServePods; ok is false for a request that came some other way.
func PodOf(r *http.Request) (pod types.NamespacedName, ok bool) {
	pod, ok = r.Context().Value(podKey{}).(types.NamespacedName)
	return pod, ok
}

// Addrs returns the IP:PORT addresses served now, sorted.
func (ps *PodServers) Addrs() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	addrs := make([]string, 0, len(ps.servers))
	for _, s := range ps.servers {
		addrs = append(addrs, net.JoinHostPort(s.ip, strconv.Itoa(ps.port)))
	}
	slices.Sort(addrs)
	return addrs
}

// Stop stops serving pod (namespace/name is its key), as if its process
// died, and keeps it stopped: later updates of the pod do not restart it.
// The pod itself stays Ready: KWOK knows nothing of the process.
func (ps *PodServers) Stop(namespace, name string) {
	key := namespace + "/" + name
	ps.mu.Lock()
	ps.stopped[key] = true
	ps.mu.Unlock()
	ps.close(key)
}
