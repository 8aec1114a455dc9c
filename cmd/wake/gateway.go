package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/demand"
	"github.com/wakefn/wake/gateway"
	"github.com/wakefn/wake/router"
)

type gatewayOptions struct {
	kube            kubeFlags
	listen          string
	admin           string
	domain          string
	id              string
	controllers     []string
	tokenFile       string
	queueDepth      int
	maxQueued       int
	maxConns        int
	shutdownTimeout time.Duration
	shutdownDelay   time.Duration
	logLevel        string
	logFormat       string
}

func newGatewayCommand() *cobra.Command {
	o := gatewayOptions{}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run wake's data plane on Kubernetes: router and activator, routes from Function status, endpoints from EndpointSlices",
		Long: `wake gateway routes requests for NAME.NAMESPACE.DOMAIN to the pods of the
function's revisions, by the traffic split wake controller writes in each
Function's status. It holds requests for a revision at zero while it asks
the controller to wake it, and reports its concurrency per revision to the
controller's autoscaler twice a second. Gateways keep no state: run as
many as the traffic needs behind one Service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGateway(cmd.Context(), o) },
	}
	f := cmd.Flags()
	o.kube.add(f)
	f.StringVar(&o.listen, "listen", ":8080", "address of the data plane (HTTP/1.1 and h2c)")
	f.StringVar(&o.admin, "admin", ":8081", "address of /healthz (200 once routes and endpoints are loaded) and /metrics")
	f.StringVar(&o.domain, "domain", "example.com", "functions answer on NAME.NAMESPACE.DOMAIN (the controller's --domain)")
	f.StringVar(&o.id, "id", envOr("POD_NAME", hostname()), "this gateway's name in its reports (env POD_NAME)")
	f.StringSliceVar(&o.controllers, "controller", []string{"http://wake-controller.wake-system.svc:8082"},
		"wake controller's report address; several are tried in turn")
	f.StringVar(&o.tokenFile, "report-token-file", "",
		"file holding the token the controllers accept (their Secret "+defaultReportTokenSecret+", key "+reportTokenKey+", mounted); reread as it changes")
	f.IntVar(&o.queueDepth, "queue-depth", activator.DefaultQueueDepth, "requests one revision may hold while it has no room")
	f.IntVar(&o.maxQueued, "max-queued", activator.DefaultMaxQueued, "requests all revisions together may hold while they have no room")
	f.IntVar(&o.maxConns, "max-connections", 0, "connections served at once, past which one gets 503 (0: from the file descriptor limit)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "time requests in flight have to finish when the gateway stops")
	f.DurationVar(&o.shutdownDelay, "shutdown-delay", 5*time.Second,
		"on SIGTERM, time the gateway keeps taking new connections (failing /healthz) while the Service stops sending them")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "json", "console or json")
	return cmd
}

// wakeForward is the activator's Waker: the reporter, made after the
// activator it reads.
type wakeForward struct {
	to atomic.Pointer[demand.Reporter]
}

func (w *wakeForward) Wake(k api.RevisionKey) {
	if r := w.to.Load(); r != nil {
		r.Wake(k)
	}
}

func runGateway(ctx context.Context, o gatewayOptions) error {
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync()
	if o.id == "" {
		return errors.New("--id: this gateway needs a name (or set POD_NAME)")
	}
	for i, c := range o.controllers {
		o.controllers[i] = strings.TrimSuffix(strings.TrimSpace(c), "/")
	}
	token, err := gatewayReportToken(o.tokenFile, log.Named("reportauth"))
	if err != nil {
		return err
	}
	clients, err := o.kube.clients()
	if err != nil {
		return err
	}
	dataLn, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer dataLn.Close()

	metrics := newTermMetrics()
	reg := metrics.base
	var loaded atomic.Bool
	admin, err := serveAdmin(o.admin, metrics, loaded.Load, log)
	if err != nil {
		return err
	}
	defer admin.Close()

	waker := &wakeForward{}
	act := activator.New(activator.Options{Waker: waker, QueueDepth: o.queueDepth, MaxQueued: o.maxQueued,
		Logger: log.Named("activator"), Registerer: reg})
	rtr := router.New(router.Options{Next: act})
	reporter, err := demand.NewReporter(demand.ReporterOptions{
		Controllers: o.controllers, Gateway: o.id, Token: token, Source: act, Logger: log.Named("demand"),
	})
	if err != nil {
		return err
	}
	waker.to.Store(reporter)

	// The reports run on their own context: requests accepted before a
	// SIGTERM still need wake-ups while they finish.
	compCtx, stopComponents := context.WithCancel(context.Background())
	defer stopComponents()
	go reporter.Run(compCtx)
	// ctx bounds only the first sync (a SIGTERM during it stops the
	// start); the informers run until Stop.
	gw, err := gateway.Start(ctx, gateway.Options{
		Dynamic: clients.dynamic, Client: clients.core, Namespace: o.kube.namespace, Domain: o.domain,
		Router: rtr, Activator: act, Logger: log.Named("gateway"),
	})
	if err != nil {
		return err
	}
	defer gw.Stop()
	loaded.Store(true)

	dataOpts := router.ServerOptions{Router: rtr, ErrorLog: stdLog(log.Named("http")), MaxConns: o.maxConns, Fast: act}
	if dataOpts.MaxConns <= 0 {
		dataOpts.MaxConns = maxConnsForFileLimit()
	}
	data := router.NewServer(dataOpts)
	serveErr := make(chan error, 1)
	go func() { serveErr <- data.Serve(dataLn) }()
	fmt.Fprintf(os.Stderr, "wake %s gateway %s: functions on http://%s (Host NAME.NAMESPACE.%s), admin on %s, reporting to %s\n",
		version, o.id, dataLn.Addr(), o.domain, o.admin, strings.Join(o.controllers, ", "))

	select {
	case <-ctx.Done():
		log.Info("stopping: finishing requests in flight")
	case err := <-serveErr:
		log.Error("the data plane listener failed; stopping", zap.Error(err))
	}
	// Out of the Service's endpoints first, while still serving: kube-proxy
	// and load balancers keep sending new connections for a few seconds
	// after the pod starts terminating.
	loaded.Store(false)
	if o.shutdownDelay > 0 && ctx.Err() != nil {
		log.Info("leaving the Service's endpoints before closing", zap.Duration("delay", o.shutdownDelay))
		select {
		case <-time.After(o.shutdownDelay):
		case err := <-serveErr:
			log.Error("the data plane listener failed", zap.Error(err))
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := data.Shutdown(stopCtx); err != nil {
		data.Close()
		return fmt.Errorf("requests still in flight after %v: %w", o.shutdownTimeout, err)
	}
	return nil
}
