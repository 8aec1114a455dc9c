package gateway

import (
	"maps"
	"reflect"
	"slices"

	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/router"
)

// routeOf is a function's route as the controller's router has it.
func routeOf(fn *api.Function) router.Route { return controlplane.RouteFromStatus(fn) }

func equalRoutes(a, b router.Route) bool { return reflect.DeepEqual(a, b) }

// publisher publishes a table at every kick until Stop.
func (g *Gateway) publisher() {
	defer g.wg.Done()
	for {
		select {
		case <-g.stop:
			return
		case <-g.kick:
			g.publish()
		}
	}
}

// publish builds the table of every function's route and sets it, then
// unregisters the deleted revisions it no longer names. A route naming a
// revision the activator does not know yet is held back: the function
// keeps the route last published (none for a new one) until the Revision
// object arrives, whose registration kicks the publisher again.
//
// It builds from the routes the handlers keep converted, so a table costs
// a map copy and NewTable (about a microsecond a function), not a
// conversion of every object.
func (g *Gateway) publish() {
	g.publishMu.Lock()
	defer g.publishMu.Unlock()

	g.mu.Lock()
	next := make(map[api.FunctionKey]router.Route, len(g.routes))
	for key, route := range g.routes {
		missing := g.unregisteredLocked(route)
		if missing == "" {
			next[key] = route
			continue
		}
		old, had := g.published[key]
		if had {
			next[key] = old
		}
		g.log.Debug("route held back for a revision not seen yet", zap.String("function", key.String()),
			zap.String("revision", missing), zap.Bool("keeping_previous", had))
	}
	g.mu.Unlock()

	routes := slices.Collect(maps.Values(next))
	table := router.NewTable(g.opts.Domain, routes)
	conflicts := map[string]bool{}
	for _, h := range table.Conflicts {
		conflicts[h] = true
		if !g.conflicts[h] {
			g.log.Warn("host claimed twice; the function of that name wins over the tag", zap.String("host", h))
		}
	}
	g.opts.Router.SetTable(table)
	g.published, g.conflicts = next, conflicts

	// Only now may a deleted revision go: no request is routed to it any
	// more (those already routed find it unregistered, and get a 503).
	named := map[api.RevisionKey]bool{}
	for _, r := range routes {
		for _, rev := range revisionsOf(r) {
			named[api.RevisionKey{Namespace: r.Function.Namespace, Name: rev}] = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for key := range g.deleted {
		if named[key] {
			continue
		}
		g.opts.Activator.Unregister(key)
		delete(g.deleted, key)
		delete(g.registered, key)
		g.log.Debug("unregistered", zap.String("revision", key.String()))
	}
}

// unregisteredLocked returns a revision route names that the activator
// does not know, or "".
func (g *Gateway) unregisteredLocked(route router.Route) string {
	for _, rev := range revisionsOf(route) {
		if _, ok := g.registered[api.RevisionKey{Namespace: route.Function.Namespace, Name: rev}]; !ok {
			return rev
		}
	}
	return ""
}

// revisionsOf lists the revisions a route can send a request to: its
// targets', and its aliases' through the Wake-Revision-Tag header.
func revisionsOf(route router.Route) []string {
	var out []string
	for _, t := range route.Targets {
		out = append(out, t.Revision)
	}
	for _, rev := range route.Aliases {
		out = append(out, rev)
	}
	return out
}
