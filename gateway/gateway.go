package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/router"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/kube"
)

// DefaultDomain is Options.Domain's default, as in embedded mode.
const DefaultDomain = "localhost"

// tableSetter is all the gateway needs from the router.
type tableSetter interface{ SetTable(*router.Table) }

// revisionRegistry is all the gateway needs from the activator: the
// revisions it serves and their ready endpoints.
type revisionRegistry interface {
	Register(rev *api.Revision)
	Unregister(key api.RevisionKey)
	Update(key api.RevisionKey, s runtime.State)
}

// Options configure a Gateway.
type Options struct {
	// Dynamic reads Function and Revision objects. Required.
	Dynamic dynamic.Interface
	// Client reads pods and EndpointSlices. Required.
	Client kubernetes.Interface
	// Namespace limits what is followed to one namespace; "" follows all.
	Namespace string
	// Domain is the suffix of every function's host, NAME.NAMESPACE.DOMAIN;
	// it must be the controller's --domain for the URLs in status to
	// reach this gateway. "" means DefaultDomain.
	Domain string
	// Router gets a new table whenever a function's route changes.
	// Required.
	Router tableSetter
	// Activator is told about revisions and their ready endpoints.
	// Required.
	Activator revisionRegistry
	// Logger: nil means no logs.
	Logger *zap.Logger
}

// Gateway follows the cluster for one gateway process. Its informers'
// handlers and its publisher are the only writers of its state.
type Gateway struct {
	opts    Options
	log     *zap.Logger
	factory dynamicinformer.DynamicSharedInformerFactory
	watcher *kube.Watcher
	stop    chan struct{}
	kick    chan struct{} // buffered 1: a route may have changed
	wg      sync.WaitGroup
	once    sync.Once

	// publishMu makes one publisher at a time: a table built from older
	// routes must not land after a newer one.
	publishMu sync.Mutex
	published map[api.FunctionKey]router.Route // routes in the table last set
	conflicts map[string]bool                  // hosts claimed twice in it

	mu         sync.Mutex // guards the maps below; held while calling Activator
	routes     map[api.FunctionKey]router.Route
	registered map[api.RevisionKey]types.UID // revisions the activator knows
	deleted    map[api.RevisionKey]bool      // registered, Revision gone: to unregister once unrouted
	states     map[api.RevisionKey]runtime.State
}

// Start follows the Function and Revision objects and the revisions'
// endpoints, and returns once the informers listed them all and the
// first table was published, or with ctx's error (everything stopped).
func Start(ctx context.Context, opts Options) (*Gateway, error) {
	switch {
	case opts.Dynamic == nil:
		return nil, errors.New("gateway: Options.Dynamic is required")
	case opts.Client == nil:
		return nil, errors.New("gateway: Options.Client is required")
	case opts.Router == nil:
		return nil, errors.New("gateway: Options.Router is required")
	case opts.Activator == nil:
		return nil, errors.New("gateway: Options.Activator is required")
	}
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	g := &Gateway{
		opts: opts, log: opts.Logger,
		stop:       make(chan struct{}),
		kick:       make(chan struct{}, 1),
		routes:     map[api.FunctionKey]router.Route{},
		registered: map[api.RevisionKey]types.UID{},
		deleted:    map[api.RevisionKey]bool{},
		states:     map[api.RevisionKey]runtime.State{},
		published:  map[api.FunctionKey]router.Route{},
		conflicts:  map[string]bool{},
	}
	g.factory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(opts.Dynamic, 0, opts.Namespace, nil)
	revReg, err := g.factory.ForResource(api.SchemeGroupVersion.WithResource(api.ResourceRevisions)).Informer().
		AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    g.revisionAdded,
			UpdateFunc: func(_, obj any) { g.revisionAdded(obj) }, // a relist may bring a new UID
			DeleteFunc: g.revisionDeleted,
		})
	if err != nil {
		return nil, fmt.Errorf("gateway: watching revisions: %w", err)
	}
	fnReg, err := g.factory.ForResource(api.SchemeGroupVersion.WithResource(api.ResourceFunctions)).Informer().
		AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    g.functionChanged,
			UpdateFunc: func(_, obj any) { g.functionChanged(obj) },
			DeleteFunc: g.functionDeleted,
		})
	if err != nil {
		return nil, fmt.Errorf("gateway: watching functions: %w", err)
	}
	g.watcher, err = kube.Watch(kube.WatchOptions{Client: opts.Client, Observer: (*observer)(g),
		Namespace: opts.Namespace, Logger: opts.Logger.Named("endpoints")})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.factory.Start(g.stop)
	// The registrations' HasSynced, not the informers': they are true once
	// the handlers above have seen every listed object.
	if !cache.WaitForCacheSync(ctx.Done(), revReg.HasSynced, fnReg.HasSynced) {
		g.Stop()
		return nil, fmt.Errorf("gateway: listing functions and revisions: %w", context.Cause(ctx))
	}
	if err := g.watcher.WaitForSync(ctx); err != nil {
		g.Stop()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.publish()
	g.log.Info("gateway synced", zap.Int("functions", len(g.published)), zap.String("namespace", opts.Namespace))
	g.wg.Add(1)
	go g.publisher()
	return g, nil
}

// Stop stops following the cluster. The router keeps its last table and
// the activator its revisions: the caller drains the server, then exits.
func (g *Gateway) Stop() {
	g.once.Do(func() {
		close(g.stop)
		g.wg.Wait()
		g.factory.Shutdown()
		g.watcher.Stop()
	})
}

// changed wakes the publisher. A kick while it builds is kept (the buffer
// of one), and any number of kicks meanwhile make one more table: bursts
// of events, such as a relist, coalesce into a table per build.
func (g *Gateway) changed() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

func (g *Gateway) functionChanged(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	fn := &api.Function{}
	if err := kruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, fn); err != nil {
		// Its last good route stays: a malformed object must not take
		// a function's traffic away.
		g.log.Warn("reading a function", zap.String("function", u.GetNamespace()+"/"+u.GetName()), zap.Error(err))
		return
	}
	route := routeOf(fn)
	g.mu.Lock()
	old, had := g.routes[fn.Key()]
	g.routes[fn.Key()] = route
	g.mu.Unlock()
	if !had || !equalRoutes(old, route) {
		g.changed()
	}
}

func (g *Gateway) functionDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	g.mu.Lock()
	delete(g.routes, api.FunctionKey{Namespace: u.GetNamespace(), Name: u.GetName()})
	g.mu.Unlock()
	g.changed()
}

// revisionAdded registers a revision with the activator, with the
// endpoints already seen for it, then wakes the publisher: a route held
// back for want of it may go out now. The same key with another UID is a
// new revision of a recreated function: it replaces the old one.
func (g *Gateway) revisionAdded(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	rev := &api.Revision{}
	if err := kruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, rev); err != nil {
		g.log.Warn("reading a revision", zap.String("revision", u.GetNamespace()+"/"+u.GetName()), zap.Error(err))
		return
	}
	key := rev.Key()
	g.mu.Lock()
	uid, known := g.registered[key]
	delete(g.deleted, key)
	if known && uid == rev.UID {
		g.mu.Unlock()
		return
	}
	if known {
		g.opts.Activator.Unregister(key)
	}
	g.opts.Activator.Register(rev)
	g.registered[key] = rev.UID
	if s, ok := g.states[key]; ok {
		g.opts.Activator.Update(key, s)
	}
	g.mu.Unlock()
	g.log.Debug("registered", zap.String("revision", key.String()))
	g.changed()
}

// revisionDeleted marks the revision to unregister once no published
// route names it (the publisher does it).
func (g *Gateway) revisionDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	key := api.RevisionKey{Namespace: u.GetNamespace(), Name: u.GetName()}
	g.mu.Lock()
	if _, known := g.registered[key]; known {
		g.deleted[key] = true
	}
	g.mu.Unlock()
	g.changed()
}

// observer is the Gateway as the Watcher's Observer: it keeps each
// revision's latest State, for a Revision object seen after it, and
// passes it on to the activator once the revision is registered.
type observer Gateway

func (o *observer) Update(key api.RevisionKey, s runtime.State) {
	g := (*Gateway)(o)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(s.Ready) == 0 && s.Starting == 0 && s.Failure == nil {
		delete(g.states, key) // what a revision without a State has
	} else {
		g.states[key] = s
	}
	if _, ok := g.registered[key]; ok {
		g.opts.Activator.Update(key, s)
	}
}
