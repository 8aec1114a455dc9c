// Package gateway builds the data plane's view of a cluster for `wake
// gateway`: the route table from Function objects' status, the
// activator's revisions from Revision objects, and their ready endpoints
// from EndpointSlices (through runtime/kube's Watch). It only reads the
// API server; the controller is the one writer of what it follows.
//
// # Order
//
// A revision is registered with the activator when its Revision object is
// first seen, and a route naming it is published only after that: a
// Function whose status names a revision not seen yet keeps its previous
// route (or none) until it is. A deleted Revision is unregistered only
// once a published table no longer names it. The endpoints of a revision
// seen before its Revision object are kept and handed to the activator
// right after it registers it.
//
// # API server restarts
//
// The informers relist and rewatch on their own. Until they do, the
// router keeps serving the last table and the activator the last
// endpoints: a watch error never clears anything, and a relist changes
// only what changed meanwhile.
package gateway
