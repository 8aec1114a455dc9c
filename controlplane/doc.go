// Package controlplane owns the path of a deploy: it validates applied
// functions, turns a changed template into a new immutable revision,
// resolves traffic to concrete revisions, keeps both in the Store, and
// tells the router, activator, autoscaler and runtime. It also keeps
// revision status from the runtime's reports, and serves the admin API
// that the CLI talks to. It retires revisions that lost their route and
// went to zero (metadata only, revived by the next route that names them)
// and collects old ones with Knative's config-gc rules (gc.go).
package controlplane
