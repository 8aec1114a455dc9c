// Package kube is wake's Kubernetes runtime: it runs each revision as a
// Deployment (and a headless Service) through client-go, scales it through
// the Deployment's scale subresource, and reports its ready instances from
// the Service's EndpointSlices, keeping the runtime.Runtime contract that
// runtime/process keeps with local processes.
//
// # Objects
//
// Deploy creates, in the revision's namespace and named after it, a
// Deployment at 0 replicas and a Service selecting its pods, both labelled
// wake.dev/function, wake.dev/revision and Knative's
// serving.knative.dev/service and serving.knative.dev/revision, and owned
// by the Revision object when Options.OwnerRef says so. The pod runs the
// container's image with Knative's PORT, K_SERVICE, K_CONFIGURATION and
// K_REVISION, the manifest's probes (a readiness probe without a port
// probes the container port; none at all is a TCP probe on it, every
// second), its resources, and the revision's timeoutSeconds as the grace
// period. Deploy never updates existing objects: revisions are immutable.
//
// # States
//
// An instance is a pod. It is Ready when its EndpointSlice lists it ready
// and not terminating, its pod is Ready and not deleted, and the runtime
// has not withdrawn it; Endpoint.ID is the pod's name (a container the
// kubelet restarts in the same pod keeps it) and Addr its IP and the
// slice's port. The informers watch only objects labelled
// wake.dev/revision: the EndpointSlice controller copies a Service's
// labels onto its slices, so the gateways can filter the same way. Starting counts the revision's other live pods.
// Failure comes from pod statuses: image pull and container creation
// errors are ReasonStartFailed, as is an unschedulable pod; a restarted
// container is ReasonCrashed (ReasonExitedBeforeReady if it never was
// ready); CrashLoopBackOff is ReasonCrashLoopBackOff with RetryAt estimated
// from the kubelet's backoff (10s doubled per restart, at most 5m). Start
// times come from the pods' timestamps, which have one-second resolution:
// creation is Scheduled, the container's start Forked, the Ready
// condition's transition Up, Ready and WarmedUp. Warm-up requests are not
// run in Kubernetes mode (Revision.Spec.Warmup is ignored): nothing sits
// between a pod's readiness and its place in the EndpointSlice.
//
// # Drain before stop
//
// The kubelet, not wake, stops a pod, and it does not wait for anyone: a
// pod that is deleted gets SIGTERM at once, while its removal from the
// EndpointSlices reaches the gateways at the same time or later. So on a
// scale-down the runtime does not let the ReplicaSet controller choose
// and stop pods at its pace. It chooses the victims itself (pods not
// ready first, then those that became ready last), annotates each with
// controller.kubernetes.io/pod-deletion-cost -1000 (every other pod has
// the default 0), reports a State without them, waits until the Observer
// has seen it, calls the Drainer for each one that was ready (in
// parallel, bounded by the revision's timeoutSeconds), and only then
// lowers the scale, upon which the ReplicaSet controller deletes the
// cheapest pods: the victims, drained.
//
// The guarantee has limits, which the package cannot lift from outside
// the kubelet:
//
//   - The ReplicaSet controller ranks pods by readiness and phase before
//     their deletion cost. A pod that is not ready (in particular one that
//     became unready during the drain) is deleted before a ready victim.
//     It was out of Ready already, so no request was sent to it since,
//     but it was not drained. The victim that survives is restored to
//     Ready (and its annotation removed) once no more pods are to go.
//   - With the PodDeletionCost feature gate off (it is on by default since
//     Kubernetes 1.22), the controller picks by its other criteria.
//   - Pods deleted by something else than a scale-down or Remove (an
//     eviction, a node drain, kubectl delete) are reported gone and
//     drained while the kubelet is already stopping them. Options.PreStopSleep adds a preStop sleep that delays their
//     SIGTERM by that much, the Kubernetes way to give load balancers
//     time; the function's own SIGTERM handling and its grace period
//     (timeoutSeconds) cover the rest.
//   - A scale-down waits for its drains: a Scale that comes meanwhile is
//     applied after them (at most timeoutSeconds later).
//
// The annotation, not the runtime's memory, says which pods are victims:
// the gateways withdraw every pod that carries it, and so does the
// runtime, whoever marked it. A victim marked by an earlier leader whose
// term ended before its scale-down is restored by the next one once no
// more pods are to go (and stopped, without a drain since it was out of
// Ready all along, by a scale-down that still wants it gone).
//
// Remove withdraws and drains every ready instance first, then deletes the
// Deployment and the Service with foreground propagation and waits for
// the pods to go: at most timeoutSeconds plus 30s, after which a pod
// still Terminating (a lost node) is left to the garbage collector and
// Remove returns nil with a warning, and no longer than until Shutdown
// (an error wrapping ErrShutdown).
//
// # Scale and restarts
//
// Scale only records the count: the revision's loop writes it to the scale
// subresource, after the drain of a scale-down. The runtime keeps no state
// of its own in the cluster besides the victims' annotations: Deploy of a
// revision whose Deployment exists adopts its replicas as Desired (which
// Replicas returns, for the autoscaler to start from), so a restarted
// controller, or the next leader, neither stops nor starts instances, and
// Shutdown leaves the Deployments running. Once Shutdown has begun, the
// runtime writes no scale and no annotation: its API calls share a
// context that Shutdown cancels, so a deposed leader cannot shrink a
// Deployment that its successor adopted.
package kube
