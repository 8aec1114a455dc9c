package kube

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	api "github.com/wakefn/wake/api/v1"
)

// Labels the runtime puts on every Deployment, pod and Service it makes.
const (
	// LabelRevision names the revision; the Deployment's and the
	// Service's selector, and the informers' filter.
	LabelRevision = "wake.dev/revision"
	// LabelKnativeRevision is Knative's name for the same label.
	LabelKnativeRevision = "serving.knative.dev/revision"
	// LabelManagedBy says which component owns an object.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on wake's objects.
	ManagedBy = "wake"
)

// DefaultPort is the container port of a revision that names none, as in
// Knative.
const DefaultPort = 8080

// readinessPeriodSeconds is the period of a readiness probe whose manifest
// gives none (the implicit TCP probe). Knative's queue-proxy probes a
// starting instance every 25ms; with no sidecar, the kubelet's 1s is the
// fastest there is, and it is 9s less of a cold start than its default 10.
const readinessPeriodSeconds = 1

// containerPort is the port the revision's container listens on.
func containerPort(c *api.Container) int32 {
	if len(c.Ports) > 0 && c.Ports[0].ContainerPort != 0 {
		return c.Ports[0].ContainerPort
	}
	return DefaultPort
}

// revisionLabels are the labels of a revision's Deployment, pods and
// Service.
func revisionLabels(rev *api.Revision) map[string]string {
	fn := rev.FunctionName()
	l := map[string]string{
		LabelRevision:        rev.Name,
		LabelKnativeRevision: rev.Name,
		LabelManagedBy:       ManagedBy,
	}
	if fn != "" {
		l[api.LabelFunction] = fn
		l[api.LabelKnativeService] = fn
	}
	return l
}

// RevisionOwnerRef is the owner reference to the Revision object rev was
// read from, for Options.OwnerRef when revisions are custom resources: the
// garbage collector then deletes a revision's Deployment and Service with
// it. nil when rev has no UID (it is not an API object).
func RevisionOwnerRef(rev *api.Revision) *metav1.OwnerReference {
	if rev.UID == "" {
		return nil
	}
	yes := true
	return &metav1.OwnerReference{
		APIVersion:         api.APIVersion,
		Kind:               api.KindRevision,
		Name:               rev.Name,
		UID:                rev.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
}

// objectMeta is the metadata of a revision's Deployment and Service.
func objectMeta(rev *api.Revision, owner *metav1.OwnerReference) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: rev.Namespace, Name: rev.Name, Labels: revisionLabels(rev)}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return m
}

// buildDeployment returns the Deployment of rev, at 0 replicas. It fails
// when the revision cannot run on Kubernetes (no image).
func buildDeployment(rev *api.Revision, owner *metav1.OwnerReference, preStopSleep int64) (*appsv1.Deployment, error) {
	if len(rev.Spec.Containers) != 1 {
		return nil, fmt.Errorf("revision %s: spec.containers: want exactly one container, got %d", rev.Key(), len(rev.Spec.Containers))
	}
	c := rev.Spec.Container()
	if c.Image == "" {
		return nil, fmt.Errorf("revision %s: spec.containers[0].image: required in Kubernetes mode", rev.Key())
	}
	port := containerPort(c)
	name := c.Name
	if name == "" {
		name = "user-container"
	}
	portName := "user-port"
	if rev.Spec.H2C() {
		portName = api.PortNameH2C
	}
	ctr := corev1.Container{
		Name:            name,
		Image:           c.Image,
		ImagePullPolicy: corev1.PullPolicy(c.ImagePullPolicy),
		Command:         c.Command,
		Args:            c.Args,
		WorkingDir:      c.WorkingDir,
		Env:             containerEnv(rev, port),
		Ports:           []corev1.ContainerPort{{Name: portName, ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe:  probe(c.ReadinessProbe, port),
		LivenessProbe:   probe(c.LivenessProbe, port),
		StartupProbe:    probe(c.StartupProbe, port),
		// A crash's message is then the tail of its output, which the
		// runtime reports in Failure.Message, as the process runtime does.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if ctr.ReadinessProbe == nil {
		ctr.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
			PeriodSeconds: readinessPeriodSeconds,
		}
	}
	if r := c.Resources; r != nil {
		ctr.Resources = corev1.ResourceRequirements{Limits: resourceList(r.Limits), Requests: resourceList(r.Requests)}
	}
	ctr.SecurityContext = securityContext(c.SecurityContext)
	if preStopSleep > 0 {
		ctr.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: preStopSleep}}}
	}
	grace := rev.Spec.Timeout()
	no := false
	pod := corev1.PodSpec{
		Containers:                    []corev1.Container{ctr},
		TerminationGracePeriodSeconds: &grace,
		ServiceAccountName:            rev.Spec.ServiceAccountName,
		// Knative's choice: a namespace's Services would otherwise add
		// dozens of variables to every function's environment.
		EnableServiceLinks: &no,
	}
	for _, s := range rev.Spec.ImagePullSecrets {
		pod.ImagePullSecrets = append(pod.ImagePullSecrets, corev1.LocalObjectReference{Name: s.Name})
	}
	var zero int32
	labels := revisionLabels(rev)
	return &appsv1.Deployment{
		ObjectMeta: objectMeta(rev, owner),
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelRevision: rev.Name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
		},
	}, nil
}

// containerEnv is the manifest's env with Knative's PORT, K_SERVICE,
// K_CONFIGURATION and K_REVISION first, so that the manifest's values may
// refer to them as $(PORT). A manifest variable of one of those names is
// dropped: as in Knative, the platform sets them.
func containerEnv(rev *api.Revision, port int32) []corev1.EnvVar {
	fn := rev.FunctionName()
	env := []corev1.EnvVar{
		{Name: "PORT", Value: strconv.Itoa(int(port))},
		{Name: "K_SERVICE", Value: fn},
		{Name: "K_CONFIGURATION", Value: fn},
		{Name: "K_REVISION", Value: rev.Name},
	}
	for _, e := range rev.Spec.Container().Env {
		switch e.Name {
		case "PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION":
			continue
		}
		env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	return env
}

// probe converts a manifest probe; a port left out is the container's.
func probe(p *api.Probe, port int32) *corev1.Probe {
	if p == nil {
		return nil
	}
	out := &corev1.Probe{
		InitialDelaySeconds: p.InitialDelaySeconds,
		TimeoutSeconds:      p.TimeoutSeconds,
		PeriodSeconds:       p.PeriodSeconds,
		SuccessThreshold:    p.SuccessThreshold,
		FailureThreshold:    p.FailureThreshold,
	}
	orPort := func(v intstr.IntOrString) intstr.IntOrString {
		if v.Type == intstr.Int && v.IntVal == 0 || v.Type == intstr.String && v.StrVal == "" {
			return intstr.FromInt32(port)
		}
		return v
	}
	switch {
	case p.HTTPGet != nil:
		g := &corev1.HTTPGetAction{
			Path:   p.HTTPGet.Path,
			Port:   orPort(p.HTTPGet.Port),
			Host:   p.HTTPGet.Host,
			Scheme: corev1.URIScheme(p.HTTPGet.Scheme),
		}
		for _, h := range p.HTTPGet.HTTPHeaders {
			g.HTTPHeaders = append(g.HTTPHeaders, corev1.HTTPHeader{Name: h.Name, Value: h.Value})
		}
		out.HTTPGet = g
	case p.TCPSocket != nil:
		out.TCPSocket = &corev1.TCPSocketAction{Port: orPort(p.TCPSocket.Port), Host: p.TCPSocket.Host}
	default:
		out.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}
	}
	return out
}

func resourceList(m map[string]resource.Quantity) corev1.ResourceList {
	if len(m) == 0 {
		return nil
	}
	l := corev1.ResourceList{}
	for k, v := range m {
		l[corev1.ResourceName(k)] = v
	}
	return l
}

// buildService returns the Service of rev: it selects the revision's pods
// so that the EndpointSlice controller publishes the ready ones, which is
// where the runtime (and the gateways) read endpoints from. It is
// headless: requests go from the gateway straight to a pod, never through
// a Service IP.
func buildService(rev *api.Revision, owner *metav1.OwnerReference) *corev1.Service {
	port := containerPort(rev.Spec.Container())
	name, proto := "http", (*string)(nil)
	if rev.Spec.H2C() {
		h2c := "kubernetes.io/h2c"
		name, proto = api.PortNameH2C, &h2c
	}
	return &corev1.Service{
		ObjectMeta: objectMeta(rev, owner),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{LabelRevision: rev.Name},
			Ports: []corev1.ServicePort{{
				Name:        name,
				Protocol:    corev1.ProtocolTCP,
				AppProtocol: proto,
				Port:        port,
				TargetPort:  intstr.FromInt32(port),
			}},
		},
	}
}

// securityContext is the container's securityContext as Kubernetes has
// it; nil for none.
func securityContext(sc *api.SecurityContext) *corev1.SecurityContext {
	if sc == nil {
		return nil
	}
	out := &corev1.SecurityContext{
		RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup, RunAsNonRoot: sc.RunAsNonRoot,
		ReadOnlyRootFilesystem: sc.ReadOnlyRootFilesystem, AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation,
	}
	if c := sc.Capabilities; c != nil {
		out.Capabilities = &corev1.Capabilities{}
		for _, a := range c.Add {
			out.Capabilities.Add = append(out.Capabilities.Add, corev1.Capability(a))
		}
		for _, d := range c.Drop {
			out.Capabilities.Drop = append(out.Capabilities.Drop, corev1.Capability(d))
		}
	}
	if p := sc.SeccompProfile; p != nil {
		out.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileType(p.Type)}
		if p.LocalhostProfile != "" {
			out.SeccompProfile.LocalhostProfile = &p.LocalhostProfile
		}
	}
	return out
}
