package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// What the Kubernetes roles (wake controller, wake gateway) share: how
// they reach the API server, and their admin endpoints.

type kubeFlags struct {
	kubeconfig string
	namespace  string
}

func (k *kubeFlags) add(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "",
		"kubeconfig file to reach the API server with (default: $KUBECONFIG, ~/.kube/config, then the pod's service account)")
	f.StringVar(&k.namespace, "namespace", "", "watch functions in this namespace only (default: all)")
}

type kubeClients struct {
	core    kubernetes.Interface
	dynamic dynamic.Interface
}

func (k *kubeFlags) clients() (*kubeClients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	// The defaults (5 requests a second, bursts of 10) are for tools, not
	// for a controller that scales many revisions at once.
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "wake/" + version
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kubeClients{core: core, dynamic: dyn}, nil
}

// termMetrics serves the process's metrics and those of the current
// leadership term: each term registers its components afresh.
type termMetrics struct {
	base *prometheus.Registry
	term atomic.Pointer[prometheus.Registry]
}

func newTermMetrics() *termMetrics {
	m := &termMetrics{base: prometheus.NewRegistry()}
	m.base.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Gather is prometheus.Gatherer's.
func (m *termMetrics) Gather() ([]*dto.MetricFamily, error) {
	g := prometheus.Gatherers{m.base}
	if t := m.term.Load(); t != nil {
		g = append(g, t)
	}
	return g.Gather()
}

// serveAdmin serves /healthz (200 while ready says so) and /metrics.
func serveAdmin(addr string, gatherer prometheus.Gatherer, ready func() bool, log *zap.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	srv := newServer(mux, log.Named("admin"))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", zap.Error(err))
		}
	}()
	return srv, nil
}
