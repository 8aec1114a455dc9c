package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/controlplane/kubestore"
	"github.com/wakefn/wake/demand"
	"github.com/wakefn/wake/eventing/triggers"
	"github.com/wakefn/wake/leader"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/kube"
)

type controllerOptions struct {
	kube           kubeFlags
	listen         string
	admin          string
	domain         string
	gateway        string
	id             string
	advertise      string
	leaseNamespace string
	leaseName      string
	leaseDuration  time.Duration
	reportSecret   string
	autoscaling    *autoscalerFlags
	logLevel       string
	logFormat      string
}

func newControllerCommand() *cobra.Command {
	o := controllerOptions{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run wake's control plane on Kubernetes: Functions into Revisions and Deployments, the autoscaler, leader-elected",
		Long: `wake controller reconciles wake.dev/v1 Function objects into Revision
objects and each Revision into a Deployment and a Service, scales them on
the concurrency the gateways report, and writes each function's status,
from which the gateways route. Run two or more replicas: they elect a
leader through a Lease, and only the leader acts; the others forward the
gateways' reports to it and take over when it goes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runController(cmd.Context(), o) },
	}
	f := cmd.Flags()
	o.kube.add(f)
	f.StringVar(&o.listen, "listen", ":8082", "address for the gateways' concurrency reports and wake-ups")
	f.StringVar(&o.admin, "admin", ":8081", "address of /healthz and /metrics")
	f.StringVar(&o.domain, "domain", "example.com", "functions answer on NAME.NAMESPACE.DOMAIN at the gateways")
	f.StringVar(&o.gateway, "gateway", "wake-gateway.wake-system.svc:80",
		"address of the gateways' Service, through which triggers deliver events to functions")
	f.StringVar(&o.id, "id", envOr("POD_NAME", hostname()), "this replica's name in the Lease (env POD_NAME)")
	f.StringVar(&o.advertise, "advertise", "",
		"URL at which the other replicas reach this one's --listen, to forward reports while it leads (default http://$POD_IP:PORT)")
	f.StringVar(&o.leaseNamespace, "lease-namespace", envOr("POD_NAMESPACE", "wake-system"), "namespace of the leader Lease (env POD_NAMESPACE)")
	f.StringVar(&o.leaseName, "lease-name", "wake-controller", "name of the leader Lease")
	f.DurationVar(&o.leaseDuration, "lease-duration", leader.DefaultLeaseDuration,
		"how long a leader that stopped renewing blocks the others (renewal deadline and retry scale with it)")
	f.StringVar(&o.reportSecret, "report-token-secret", defaultReportTokenSecret,
		"Secret in --lease-namespace holding the token gateways must send on --listen (key token); created with a random token if missing")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "json", "console or json")
	o.autoscaling = addAutoscalerFlags(cmd)
	return cmd
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func runController(ctx context.Context, o controllerOptions) error {
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync()
	asConfig, err := o.autoscaling.config()
	if err != nil {
		return err
	}
	if err := checkReportSecretName(o.reportSecret); err != nil {
		return err
	}
	clients, err := o.kube.clients()
	if err != nil {
		return err
	}
	// The report port opens only with its token: a gateway's report or
	// wake-up without it is refused, by a standby as by the leader.
	secret := newReportSecret(clients.core, o.leaseNamespace, o.reportSecret, log.Named("reportauth"))
	tokenCtx, cancelToken := context.WithTimeout(ctx, 30*time.Second)
	tokens, err := secret.tokens(tokenCtx)
	cancelToken()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer ln.Close()
	if o.advertise == "" {
		ip := os.Getenv("POD_IP")
		if ip == "" {
			return errors.New("--advertise: give the URL other replicas reach this one at (or set POD_IP)")
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		o.advertise = "http://" + net.JoinHostPort(ip, port)
	}
	if _, err := url.Parse(o.advertise); err != nil || !strings.HasPrefix(o.advertise, "http") {
		return fmt.Errorf("--advertise %q: want an http:// URL", o.advertise)
	}
	if o.id == "" {
		return errors.New("--id: this replica needs a name (or set POD_NAME)")
	}

	metrics := newTermMetrics()
	admin, err := serveAdmin(o.admin, metrics, func() bool { return true }, log)
	if err != nil {
		return err
	}
	defer admin.Close()

	guard, err := demand.NewGuard(demand.GuardOptions{Tokens: tokens, Registerer: metrics.base, Logger: log.Named("reportauth")})
	if err != nil {
		return err
	}
	go secret.follow(ctx, tokens)

	ctl := &controller{o: o, log: log, clients: clients, asConfig: asConfig, metrics: metrics, fatal: make(chan error, 1)}
	reports := &http.Server{Handler: guard.Wrap(ctl), ReadHeaderTimeout: 10 * time.Second, ErrorLog: stdLog(log.Named("http"))}
	go reports.Serve(ln)
	defer reports.Close()
	fmt.Fprintf(os.Stderr, "wake %s controller %s: reports on %s (advertised as %s), admin on %s\n",
		version, o.id, ln.Addr(), o.advertise, o.admin)

	// The lease's renewals on a client of their own: on the runtime's,
	// they would queue behind its calls (one rate limit per client) when
	// many revisions scale at once, and the leader would lose the lease
	// under load.
	electionClients, err := o.kube.clients()
	if err != nil {
		return err
	}
	renew := o.leaseDuration * 2 / 3
	// A term that cannot start its components ends the process: holding
	// the lease without acting would stop the other replica from leading.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	failed := make(chan error, 1)
	go func() {
		select {
		case err := <-ctl.fatal:
			log.Error("cannot lead; exiting so that the other replica does", zap.Error(err))
			failed <- err
			stop()
		case <-ctx.Done():
		}
	}()
	err = leader.Run(ctx, leader.Options{
		Client: electionClients.core, Namespace: o.leaseNamespace, Name: o.leaseName,
		Identity:      o.id + " " + o.advertise,
		LeaseDuration: o.leaseDuration, RenewDeadline: renew, RetryPeriod: max(renew/5, 200*time.Millisecond),
		OnNewLeader: ctl.newLeader, Logger: log.Named("leader"),
	}, ctl.lead)
	select {
	case ferr := <-failed:
		return ferr
	default:
		return err
	}
}

// controller is one replica of wake controller: it leads in terms, and
// between them forwards the gateways' reports to whoever leads.
type controller struct {
	o        controllerOptions
	log      *zap.Logger
	clients  *kubeClients
	asConfig autoscaler.Config
	metrics  *termMetrics
	fatal    chan error // a term that could not start

	collector atomic.Pointer[http.Handler] // the collector's, while this replica leads
	forward   atomic.Pointer[httputil.ReverseProxy]
}

// ServeHTTP takes a gateway's report or wake-up: into this replica's
// collector while it leads, to the leader otherwise.
func (c *controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := c.collector.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	if p := c.forward.Load(); p != nil {
		p.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "wake controller: no leader elected yet", http.StatusServiceUnavailable)
}

// newLeader points the forwarding at the new leader's advertised URL.
func (c *controller) newLeader(identity string) {
	_, addr, _ := strings.Cut(identity, " ")
	u, err := url.Parse(addr)
	if err != nil || addr == "" || addr == c.o.advertise {
		c.forward.Store(nil)
		return
	}
	c.log.Info("leader", zap.String("identity", identity))
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "wake controller: forwarding to the leader: "+err.Error(), http.StatusServiceUnavailable)
	}
	c.forward.Store(p)
}

// lead runs one term: the control plane, autoscaler and Kubernetes
// runtime, fed by the Function objects, until the lease is lost.
func (c *controller) lead(ctx context.Context) {
	log := c.log
	log.Info("leading: taking over functions, revisions and scaling")
	reg := prometheus.NewRegistry()
	c.metrics.term.Store(reg)
	var (
		as  *autoscaler.Autoscaler
		col *demand.Collector
		rt  *kube.Runtime
		cp  *controlplane.ControlPlane
	)
	as = autoscaler.New(autoscaler.Options{
		Sample:     func(k api.RevisionKey) autoscaler.Sample { return col.Sample(k) },
		Scaler:     scalerFunc(func(ctx context.Context, k api.RevisionKey, n int) error { return rt.Scale(ctx, k, n) }),
		Logger:     log.Named("autoscaler"),
		Registerer: reg,
		Config:     &c.asConfig,
	})
	col = demand.NewCollector(demand.CollectorOptions{Waker: as, Logger: log.Named("demand")})
	rt, err := kube.New(kube.Options{
		Client:    c.clients.core,
		Observer:  observerFunc(func(k api.RevisionKey, s runtime.State) { cp.Update(k, s) }),
		Drainer:   col,
		Logger:    log.Named("runtime"),
		Namespace: c.o.kube.namespace,
		OwnerRef:  kube.RevisionOwnerRef,
	})
	if err != nil {
		c.fatal <- fmt.Errorf("starting the Kubernetes runtime: %w", err)
		return
	}
	store := kubestore.New(c.clients.dynamic, c.o.kube.namespace)
	// Triggers deliver through the gateways, like any request: events
	// wake functions, follow traffic splits and count for the autoscaler.
	trigs, err := triggers.New(triggers.Options{
		RouterAddr: c.o.gateway, Domain: c.o.domain, Registerer: reg, Logger: log.Named("triggers"),
		CronStore: store.CronRecords(c.o.leaseNamespace, "wake-cron-records"),
	})
	if err != nil {
		rt.Shutdown(context.Background())
		c.fatal <- fmt.Errorf("starting the triggers: %w", err)
		return
	}
	status := kubestore.NewStatusWriter(store, log.Named("status"))
	cp = controlplane.New(controlplane.Options{
		Store: store, Runtime: rt, Router: status, Autoscaler: as, Triggers: trigs, RemoteOutcomes: col.Outcomes,
		Domain: c.o.domain, ExternalSpec: true, Logger: log.Named("controlplane"),
	})
	trigs.SetPrewarmer(cp.Prewarmer())
	trigs.Start(ctx)
	var wg sync.WaitGroup
	defer func() {
		// The runtime first: nothing may scale once the term is over, and
		// with reports gone a drain would soon pass for done.
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Shutdown(stopCtx); err != nil { // Deployments stay as they are
			log.Warn("stopping the runtime", zap.Error(err))
		}
		c.collector.Store(nil)
		trigs.Close() // Kafka commits what was delivered; the next leader goes on from there
		wg.Wait()
		c.metrics.term.Store(nil)
		log.Info("no longer leading")
	}()
	// Reports count from now; wake-ups may come before the functions are
	// loaded, and reach them once they are.
	h := col.Handler()
	c.collector.Store(&h)
	// One round of the gateways' reports before the control plane starts:
	// a rollout it resumes takes its baseline from their cumulative
	// counts, and the autoscaler's first samples are not empty.
	select {
	case <-ctx.Done():
		return
	case <-time.After(2 * demand.DefaultInterval):
	}
	for {
		err := cp.Start(ctx)
		if err == nil {
			break
		}
		log.Warn("loading functions and revisions; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	wg.Go(func() { status.Run(ctx, cp) })
	wg.Go(func() { _ = as.Run(ctx) })
	wg.Go(func() { cp.RunRollouts(ctx) })
	err = kubestore.Feed(ctx, kubestore.FeedOptions{Store: store, ControlPlane: cp, Triggers: cp, Status: status, Logger: log.Named("feed")})
	if err != nil && ctx.Err() == nil {
		log.Error("watching functions", zap.Error(err))
	}
	<-ctx.Done()
}
