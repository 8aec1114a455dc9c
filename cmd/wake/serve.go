package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/autoscaler"
	"github.com/wakefn/wake/console"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/eventing/triggers"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/process"
)

type serveOptions struct {
	httpAddr         string
	adminAddr        string
	stateDir         string
	domain           string
	autoscaling      *autoscalerFlags
	files            []string
	queueDepth       int
	maxQueued        int
	maxConns         int
	terminationGrace time.Duration
	containers       containerFlags
	shutdownTimeout  time.Duration
	logLevel         string
	logFormat        string
	fastPath         bool
	token            adminTokenOptions
	kafkaEmbedded    string
	store            storeFlags
	gc               gcFlags
}

func newServeCommand() *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the platform on this machine: router, activator, autoscaler and functions as local processes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.token.fileSet = cmd.Flags().Changed("admin-token-file")
			return serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "address of the data plane (HTTP/1.1 and h2c): functions answer here")
	f.StringVar(&o.adminAddr, "admin", "127.0.0.1:8081", "address of the admin API and /metrics")
	f.StringVar(&o.stateDir, "state-dir", envOr("WAKE_STATE_DIR", defaultStateDir()),
		"directory for the store, instance logs and admin token (env WAKE_STATE_DIR)")
	f.StringVar(&o.token.file, "admin-token-file", "",
		"file holding the admin API's bearer token, mode 0600 (default STATE_DIR/admin-token, created on first start)")
	f.BoolVar(&o.token.none, "no-admin-token", false,
		"serve the admin API without a token; refused unless --admin is a loopback address")
	f.StringVar(&o.domain, "domain", "localhost", "functions answer on NAME.NAMESPACE.DOMAIN")
	f.StringSliceVarP(&o.files, "filename", "f", nil, "manifests to apply at start (file, directory or -)")
	f.IntVar(&o.queueDepth, "queue-depth", activator.DefaultQueueDepth, "requests one revision may hold while it has no room")
	f.IntVar(&o.maxQueued, "max-queued", activator.DefaultMaxQueued, "requests all revisions together may hold while they have no room")
	f.IntVar(&o.maxConns, "max-connections", 0,
		"connections the data plane serves at once, past which one gets 503 (0: the file descriptor limit less a tenth kept for instances and the admin API)")
	f.DurationVar(&o.terminationGrace, "termination-grace-period", 10*time.Second, "time an instance has to exit after SIGTERM before SIGKILL")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "time requests in flight have to finish when wake serve stops")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "console", "console or json")
	f.BoolVar(&o.fastPath, "http1-fast-path", true,
		"serve plain HTTP/1.1 requests without net/http (false sends every request through net/http)")
	f.StringVar(&o.kafkaEmbedded, "kafka-embedded", "",
		"run a one-broker Kafka on this address (e.g. 127.0.0.1:9092), with its data under STATE_DIR/kafka, for triggers to consume")
	o.store.addFlags(f)
	o.gc.addFlags(f)
	o.containers.addFlags(f)
	o.autoscaling = addAutoscalerFlags(cmd)
	return cmd
}

// maxConnsForFileLimit is the data plane's default connection bound: the
// process's file descriptor limit (Go raises the soft one to the hard one
// at start) less a tenth, at least 256, kept for instances' pipes and
// sockets, the store, logs and the admin API. 0 (no bound) when the limit
// cannot be read or is infinite.
func maxConnsForFileLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 { // unlimited, or as good as
		return 0
	}
	reserve := max(256, l.Cur/10)
	if l.Cur <= 2*reserve {
		return int(l.Cur / 2)
	}
	return int(l.Cur - reserve)
}

// passedEnv are the variables of wake's own environment that instances
// get: where to find programs, the language and the time zone, as a
// container image would set them. Nothing else of it (wake's secrets,
// cloud credentials, HOME and its dotfiles) reaches a function unless its
// manifest says so; the runtime adds PORT and the K_* variables.
var passedEnv = []string{"PATH", "LANG", "TZ"}

// instanceEnv is the environment instances start from: passedEnv's
// variables that wake has, and the runtime's default PATH when wake has
// none.
func instanceEnv() []string {
	env := []string{}
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "PATH" {
			env = append(env, process.DefaultEnv...)
		}
	}
	return env
}

// defaultStateDir follows the XDG base directory convention.
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "wake")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "wake")
	}
	return ".wake"
}

func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	switch format {
	case "json":
	case "console":
		cfg.Encoding = "console"
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	default:
		return nil, fmt.Errorf("--log-format: must be console or json, got %q", format)
	}
	return cfg.Build()
}

// observerFunc and scalerFunc let the components be wired in a cycle
// (the runtime reports to the control plane, which drives the runtime)
// without two-phase constructors.
type observerFunc func(api.RevisionKey, runtime.State)

func (f observerFunc) Update(k api.RevisionKey, s runtime.State) { f(k, s) }

type scalerFunc func(context.Context, api.RevisionKey, int) error

func (f scalerFunc) Scale(ctx context.Context, k api.RevisionKey, n int) error { return f(ctx, k, n) }

// serve runs the platform until ctx ends (SIGINT or SIGTERM).
func serve(ctx context.Context, o serveOptions) error {
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	asConfig, err := o.autoscaling.config()
	if err != nil {
		return err
	}
	gcConfig, err := o.gc.config()
	if err != nil {
		return err
	}
	defer log.Sync()
	if err := os.MkdirAll(o.stateDir, 0o755); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	token, err := o.token.resolve(o.stateDir)
	if err != nil {
		return err
	}
	store, err := openStore(o.stateDir, o.store, log)
	if err != nil {
		return err
	}
	defer store.Close()

	// Listen first: a port in use fails the start before anything runs.
	dataLn, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	defer dataLn.Close()
	adminLn, err := net.Listen("tcp", o.adminAddr)
	if err != nil {
		return fmt.Errorf("--admin: %w", err)
	}
	defer adminLn.Close()
	if token.token == "" && !isLoopback(adminLn.Addr()) {
		return fmt.Errorf("--admin %s listens on %s, which other machines can reach, and --no-admin-token would let "+
			"anyone there deploy functions, which run commands: leave out --no-admin-token, or listen on 127.0.0.1",
			o.adminAddr, adminLn.Addr())
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The components, wired through the small interfaces each declares.
	var (
		act *activator.Activator
		rt  *process.Runtime
		cp  *controlplane.ControlPlane
		// changes tells the console the control plane saw instances or
		// routes change, so that open pages see it at once.
		changes = make(chan struct{}, 1)
	)
	as := autoscaler.New(autoscaler.Options{
		Sample: func(k api.RevisionKey) autoscaler.Sample {
			s := act.Sample(k)
			return autoscaler.Sample{Concurrency: s.Concurrency, InFlight: s.InFlight, Requests: s.Requests, Ready: s.Ready}
		},
		Scaler:     scalerFunc(func(ctx context.Context, k api.RevisionKey, n int) error { return rt.Scale(ctx, k, n) }),
		Logger:     log.Named("autoscaler"),
		Registerer: reg,
		Config:     &asConfig,
	})
	act = activator.New(activator.Options{Waker: as, QueueDepth: o.queueDepth, MaxQueued: o.maxQueued, Logger: log.Named("activator"), Registerer: reg})
	rtr := router.New(router.Options{Next: act})
	images, engine, noContainers := o.containers.open(o.stateDir, log)
	if engine != nil {
		defer engine.Close() // after the runtime stopped every instance
	}
	rt, err = process.New(process.Options{
		Images:                 images,
		Containers:             engine,
		ContainersUnavailable:  noContainers,
		StateDir:               o.stateDir,
		Observer:               observerFunc(func(k api.RevisionKey, s runtime.State) { cp.Update(k, s) }),
		Drainer:                act,
		Logger:                 log.Named("runtime"),
		TerminationGracePeriod: o.terminationGrace,
		Env:                    instanceEnv(),
	})
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(dataLn.Addr().String())
	urlPort, _ := strconv.Atoi(port)
	var kafkaNotice string
	if o.kafkaEmbedded != "" {
		kafkaCtx, stopKafka := context.WithCancel(context.Background())
		broker, err := startEmbeddedKafka(kafkaCtx, o.kafkaEmbedded, o.stateDir, log.Named("kafka"))
		if err != nil {
			stopKafka()
			return err
		}
		defer broker.Close()
		defer stopKafka()
		kafkaNotice = fmt.Sprintf("wake: embedded Kafka broker on %s, data in %s\n",
			broker.ListenAddrs()[0], filepath.Join(o.stateDir, "kafka"))
	}
	trigs, err := triggers.New(triggers.Options{
		RouterAddr: dataLn.Addr().String(), Domain: o.domain, CronStore: store.CronRecords(),
		Registerer: reg, Logger: log.Named("triggers"),
	})
	if err != nil {
		return err
	}
	cp = controlplane.New(controlplane.Options{
		Store: store, Runtime: rt, Router: rtr, Activator: act, Autoscaler: as, Triggers: trigs,
		Domain: o.domain, URLPort: urlPort, LocalCommands: true, Logger: log.Named("controlplane"),
		OnChange: func() { notify(changes) }, RevisionGC: &gcConfig,
	})
	// Cron triggers wake their function sinks ahead of each fire.
	trigs.SetPrewarmer(cp.Prewarmer())

	// Components run on their own context: when ctx ends, requests already
	// accepted still need the autoscaler and runtime while they drain.
	compCtx, stopComponents := context.WithCancel(context.Background())
	defer stopComponents()
	trigs.Start(compCtx)
	if err := cp.Start(compCtx); err != nil {
		return err
	}
	scalerDone := make(chan error, 1)
	go func() { scalerDone <- as.Run(compCtx) }()
	go cp.RunRollouts(compCtx)
	go cp.RunRevisionGC(compCtx, o.gc.interval)

	dataOpts := router.ServerOptions{Router: rtr, ErrorLog: stdLog(log.Named("http")), MaxConns: o.maxConns}
	if dataOpts.MaxConns <= 0 {
		dataOpts.MaxConns = maxConnsForFileLimit()
	}
	if o.fastPath {
		dataOpts.Fast = act
	}
	data := router.NewServer(dataOpts)
	ui := console.New(console.Options{Platform: cp, Data: act, Logs: rt, Token: token.token, Changes: changes, Logger: log.Named("console")})
	admin := newServer(withConsole(ui, controlplane.NewAdminHandler(controlplane.AdminOptions{
		ControlPlane: cp, Logs: rt, Gatherer: reg, Logger: log.Named("admin"), Token: token.token,
		Info: controlplane.Info{HTTPAddr: dataLn.Addr().String(), Domain: o.domain, Version: version},
	})), log.Named("admin"))
	// Pages left open must not hold the admin server's shutdown up.
	admin.RegisterOnShutdown(ui.Close)
	serveErr := make(chan error, 2)
	go func() { serveErr <- data.Serve(dataLn) }()
	go func() { serveErr <- admin.Serve(adminLn) }()

	p := &platform{log: log, data: data, admin: admin, stopComponents: stopComponents, scalerDone: scalerDone, runtime: rt, triggers: trigs}
	if err := applyAtStart(compCtx, cp, o.files); err != nil {
		p.stopAll(o)
		return err
	}
	fmt.Fprintf(os.Stderr, "wake %s: functions on http://%s (Host NAME.NAMESPACE.%s), admin API on http://%s, state in %s\n",
		version, dataLn.Addr(), o.domain, adminLn.Addr(), o.stateDir)
	fmt.Fprintf(os.Stderr, "wake: %s\n", token.notice(o.stateDir, envOr("WAKE_STATE_DIR", defaultStateDir())))
	fmt.Fprintf(os.Stderr, "wake: console on http://%s%s\n", adminLn.Addr(), console.Prefix)
	fmt.Fprint(os.Stderr, kafkaNotice)

	select {
	case <-ctx.Done():
		log.Info("stopping: finishing requests in flight")
	case err := <-serveErr:
		log.Error("a listener failed; stopping", zap.Error(err))
	}
	return p.stopAll(o)
}

// stopAll shuts the platform down in order: stop the triggers (Kafka
// commits what was delivered; a delivery cut off is redelivered after the
// restart), stop taking requests and let those in flight finish
// (instances still scale for them), stop scaling, stop the instances, then
// the admin API. The store and the embedded broker close last, deferred by
// serve.
func (p *platform) stopAll(o serveOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	p.triggers.Close()
	var errs []error
	if err := p.data.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("requests still in flight after %v: %w", o.shutdownTimeout, err))
		p.data.Close()
	}
	p.stopComponents()
	<-p.scalerDone
	stopCtx, cancelStop := context.WithTimeout(context.Background(), o.terminationGrace+5*time.Second)
	defer cancelStop()
	if err := p.runtime.Shutdown(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("stopping instances: %w", err))
	}
	if err := p.admin.Shutdown(ctx); err != nil {
		p.admin.Close()
	}
	p.log.Info("stopped")
	return errors.Join(errs...)
}

// platform is what serve started and stopAll stops.
type platform struct {
	log            *zap.Logger
	data           *router.Server
	admin          *http.Server
	stopComponents func()
	scalerDone     <-chan error
	runtime        *process.Runtime
	triggers       *triggers.Runner
}

// applyAtStart applies the -f manifests of wake serve.
func applyAtStart(ctx context.Context, cp *controlplane.ControlPlane, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	files, err := readManifests(paths, os.Stdin)
	if err != nil {
		return err
	}
	// Every file is checked before any is applied, and every problem of
	// every file reported, as wake apply does.
	docs := make([][]*api.Document, len(files))
	var bad []string
	for i, f := range files {
		var err error
		docs[i], err = api.Decode(f.Source, f.Data)
		if err := cp.Problems(docs[i], err); err != nil {
			bad = append(bad, fmt.Sprintf("%s was not applied:\n%v", f.Source, err))
		} else if len(docs[i]) == 0 {
			bad = append(bad, f.Source+": no objects passed to apply")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d files have problems, nothing was applied:\n%s", len(bad), len(files), strings.Join(bad, "\n"))
	}
	for i, f := range files {
		if _, err := cp.Apply(ctx, docs[i], controlplane.ApplyOptions{BaseDir: f.Dir}); err != nil {
			return fmt.Errorf("applying %s:\n%w", f.Source, err)
		}
	}
	return nil
}

// notify signals on c without waiting: a signal already pending says the
// same.
func notify(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// withConsole serves the web console at /ui/ and the admin API at every
// other path of the admin listener. The console logs in with the admin
// API's token and keeps a session cookie, so its paths pass neither the
// API's bearer check nor its refusal of requests from web pages.
func withConsole(ui *console.Console, adminAPI http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, ui)
	mux.Handle("/ui", ui)
	mux.Handle("/", adminAPI)
	return mux
}

// newServer returns the admin API's server, with limits on slow or idle
// clients.
func newServer(h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          stdLog(log),
	}
}

// stdLog adapts zap for net/http's complaints (bad requests, TLS noise),
// at debug level: they are the clients' problems, not wake's.
func stdLog(log *zap.Logger) *stdlog.Logger {
	l, _ := zap.NewStdLogAt(log, zapcore.DebugLevel)
	return l
}
