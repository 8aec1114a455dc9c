// Package router owns the first step of a request: it matches the Host to a
// function (NAME.NAMESPACE.DOMAIN) or a tagged revision
// (TAG-NAME.NAMESPACE.DOMAIN), picks a revision by the traffic weights, and
// hands the request on; the Wake-Revision-Tag header and, on sticky split
// routes, the wake-revision cookie pin a request to one revision. Routes live in an immutable Table that the control
// plane swaps atomically, so a lookup takes no lock.
package router
