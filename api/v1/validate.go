package v1

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateOptions are the checks that depend on where a function runs.
// Both modes run images and (embedded) commands alike today, so it has no
// field yet; it stays so that callers say where the function runs.
type ValidateOptions struct{}

// Validate reports every problem in a function, each under the JSON path
// the user wrote (spec.traffic[1].percent), following Knative's rules.
// Call it after SetDefaults; it checks the defaulted form. Whether named
// revisions exist is the control plane's to check, not this.
//
// Details are sentences without the bad value ("must be between 0 and
// 100"); Errors and NewErrors add it ("..., got 140").
func (f *Function) Validate(opts ValidateOptions) field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	if f.Name == "" {
		errs = append(errs, field.Required(meta.Child("name"), ""))
	} else {
		errs = append(errs, dns1035Label(f.Name, meta.Child("name"))...)
	}
	if f.Namespace != "" {
		errs = append(errs, dns1123Label(f.Namespace, meta.Child("namespace"))...)
	}
	errs = append(errs, validateLabels(f.Labels, meta.Child("labels"))...)
	errs = append(errs, validateAnnotations(f.Annotations, meta.Child("annotations"))...)
	_, gc := ParseRevisionGC(f.Annotations, DefaultRevisionGC, meta.Child("annotations"))
	errs = append(errs, gc...)
	spec := field.NewPath("spec")
	errs = append(errs, f.validateTemplate(opts, spec.Child("template"))...)
	errs = append(errs, validateTraffic(f.Name, f.Spec.Traffic, spec.Child("traffic"))...)
	return errs
}

func (f *Function) validateTemplate(opts ValidateOptions, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	t := &f.Spec.Template
	meta := path.Child("metadata")
	if t.Name != "" {
		// Knative's rule: an explicit revision name stays recognisably the
		// function's, and is unique because names are per namespace.
		if prefix := f.Name + "-"; !strings.HasPrefix(t.Name, prefix) {
			errs = append(errs, field.Invalid(meta.Child("name"), t.Name,
				fmt.Sprintf("must start with the function's name and a dash, %q", prefix)))
		}
		errs = append(errs, dns1123Label(t.Name, meta.Child("name"))...)
	}
	if t.Namespace != "" && t.Namespace != f.Namespace {
		errs = append(errs, field.Invalid(meta.Child("namespace"), t.Namespace,
			fmt.Sprintf("must be empty or the function's namespace, %q", f.Namespace)))
	}
	errs = append(errs, validateLabels(t.Labels, meta.Child("labels"))...)
	errs = append(errs, validateAnnotations(t.Annotations, meta.Child("annotations"))...)
	_, scaling := ParseScaling(t.Annotations, int64(t.Spec.ConcurrencyLimit()), meta.Child("annotations"))
	errs = append(errs, scaling...)
	_, deadline := ParseProgressDeadline(t.Annotations, meta.Child("annotations"))
	errs = append(errs, deadline...)
	errs = append(errs, validateWarmup(t, path)...)
	return append(errs, t.Spec.validate(opts, path.Child("spec"))...)
}

func (s *RevisionSpec) validate(opts ValidateOptions, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	containers := path.Child("containers")
	if n := len(s.Containers); n != 1 {
		errs = append(errs, field.Invalid(containers, field.OmitValueType{},
			fmt.Sprintf("must have exactly one container: wake runs one container per function; got %d", n)))
	}
	for i := range s.Containers {
		errs = append(errs, s.Containers[i].validate(opts, containers.Index(i))...)
	}
	if c := s.ContainerConcurrency; c != nil && (*c < 0 || *c > MaxContainerConcurrency) {
		errs = append(errs, between(path.Child("containerConcurrency"), *c, 0, MaxContainerConcurrency))
	}
	limit := int64(MaxTimeoutSeconds) // what the other timeouts are held to
	if t := s.TimeoutSeconds; t != nil {
		if *t < 1 || *t > MaxTimeoutSeconds {
			errs = append(errs, between(path.Child("timeoutSeconds"), *t, 1, MaxTimeoutSeconds))
		} else {
			limit = *t
		}
	}
	// A response must start, and may sit idle, only within the request's
	// own timeout.
	for _, t := range []struct {
		name string
		v    *int64
	}{{"responseStartTimeoutSeconds", s.ResponseStartTimeoutSeconds}, {"idleTimeoutSeconds", s.IdleTimeoutSeconds}} {
		if t.v != nil && (*t.v < 0 || *t.v > limit) {
			errs = append(errs, field.Invalid(path.Child(t.name), *t.v,
				fmt.Sprintf("must be between 0 and timeoutSeconds (%d)", limit)))
		}
	}
	if s.ServiceAccountName != "" {
		if len(validation.IsDNS1123Subdomain(s.ServiceAccountName)) > 0 {
			errs = append(errs, field.Invalid(path.Child("serviceAccountName"), s.ServiceAccountName,
				"must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"))
		}
	}
	for i, r := range s.ImagePullSecrets {
		if r.Name == "" {
			errs = append(errs, field.Required(path.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	return errs
}

// reservedEnv are the variables wake sets for every instance, as Knative
// does; a manifest setting one would be overridden, silently.
var reservedEnv = map[string]bool{"PORT": true, "K_SERVICE": true, "K_CONFIGURATION": true, "K_REVISION": true}

func (c *Container) validate(opts ValidateOptions, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name != "" {
		errs = append(errs, dns1123Label(c.Name, path.Child("name"))...)
	}
	if len(c.Command) == 0 && c.Image == "" {
		errs = append(errs, field.Required(path.Child("image"), "is required unless command is set"))
	}
	if len(c.Command) > 0 && strings.TrimSpace(c.Command[0]) == "" {
		errs = append(errs, field.Invalid(path.Child("command").Index(0), c.Command[0], "must name the program to run"))
	}
	// A NUL cannot reach a process: exec would fail at every start.
	for _, l := range []struct {
		name string
		args []string
	}{{"command", c.Command}, {"args", c.Args}} {
		for i, a := range l.args {
			if strings.ContainsRune(a, 0) {
				errs = append(errs, field.Invalid(path.Child(l.name).Index(i), a, "must not contain a NUL byte"))
			}
		}
	}
	switch c.ImagePullPolicy {
	case "", "Always", "IfNotPresent", "Never":
	default:
		errs = append(errs, field.NotSupported(path.Child("imagePullPolicy"), c.ImagePullPolicy, []string{"Always", "IfNotPresent", "Never"}))
	}
	errs = append(errs, validateEnv(c.Env, path.Child("env"))...)
	errs = append(errs, validatePorts(c.Ports, path.Child("ports"))...)
	if r := c.Resources; r != nil {
		for _, l := range []struct {
			name string
			m    map[string]resource.Quantity
		}{{"limits", r.Limits}, {"requests", r.Requests}} {
			for _, k := range sortedKeys(l.m) {
				if q := l.m[k]; q.Sign() < 0 {
					errs = append(errs, field.Invalid(path.Child("resources", l.name).Key(k), q.String(), "must not be negative"))
				}
			}
		}
	}
	if sc := c.SecurityContext; sc != nil {
		sp := path.Child("securityContext")
		for _, f := range []struct {
			name string
			v    *int64
		}{{"runAsUser", sc.RunAsUser}, {"runAsGroup", sc.RunAsGroup}} {
			if f.v != nil && (*f.v < 0 || *f.v > 1<<31-1) {
				errs = append(errs, field.Invalid(sp.Child(f.name), *f.v, "must be between 0 and 2147483647"))
			}
		}
		if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			errs = append(errs, field.Invalid(sp.Child("runAsUser"), 0, "must not be 0 (root) when runAsNonRoot is true"))
		}
	}
	errs = append(errs, c.ReadinessProbe.validate(path.Child("readinessProbe"), false)...)
	errs = append(errs, c.LivenessProbe.validate(path.Child("livenessProbe"), true)...)
	errs = append(errs, c.StartupProbe.validate(path.Child("startupProbe"), true)...)
	return errs
}

func validateEnv(env []EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, e := range env {
		p := path.Index(i).Child("name")
		switch {
		case e.Name == "":
			errs = append(errs, field.Required(p, ""))
		case strings.ContainsAny(e.Name, "=\x00"):
			errs = append(errs, field.Invalid(p, e.Name, "must not contain '=' or a NUL byte"))
		case reservedEnv[e.Name]:
			errs = append(errs, field.Forbidden(p, "is reserved: wake sets it for every instance"))
		case seen[e.Name]:
			errs = append(errs, field.Duplicate(p, e.Name))
		}
		seen[e.Name] = true
		if strings.ContainsRune(e.Value, 0) {
			errs = append(errs, field.Invalid(path.Index(i).Child("value"), field.OmitValueType{}, "must not contain a NUL byte"))
		}
	}
	return errs
}

func validatePorts(ports []ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ports) > 1 {
		errs = append(errs, field.Invalid(path, field.OmitValueType{},
			fmt.Sprintf("must have at most one port: wake sends requests to one port; got %d", len(ports))))
	}
	for i, p := range ports {
		pp := path.Index(i)
		if p.ContainerPort < 0 || p.ContainerPort > 65535 { // 0 means unset
			errs = append(errs, between(pp.Child("containerPort"), int64(p.ContainerPort), 1, 65535))
		}
		switch p.Name {
		case "", "http1", PortNameH2C:
		default:
			errs = append(errs, field.NotSupported(pp.Child("name"), p.Name, []string{"http1", PortNameH2C}))
		}
		if p.Protocol != "" && p.Protocol != "TCP" {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []string{"TCP"}))
		}
	}
	return errs
}

// validate checks a probe; a nil one is fine (a TCP connect). Liveness and
// startup probes need exactly one success, as in Kubernetes.
func (p *Probe) validate(path *field.Path, oneSuccess bool) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	if p.HTTPGet != nil && p.TCPSocket != nil {
		errs = append(errs, field.Forbidden(path.Child("tcpSocket"), "must not be set with httpGet: a probe has one handler"))
	}
	if h := p.HTTPGet; h != nil {
		hp := path.Child("httpGet")
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			errs = append(errs, field.Invalid(hp.Child("path"), h.Path, `must start with "/"`))
		}
		switch h.Scheme {
		case "", "HTTP", "HTTPS":
		default:
			errs = append(errs, field.NotSupported(hp.Child("scheme"), h.Scheme, []string{"HTTP", "HTTPS"}))
		}
		errs = append(errs, validateProbePort(h.Port, hp.Child("port"))...)
		for i, hdr := range h.HTTPHeaders {
			np := hp.Child("httpHeaders").Index(i).Child("name")
			if hdr.Name == "" {
				errs = append(errs, field.Required(np, ""))
			} else if len(validation.IsHTTPHeaderName(hdr.Name)) > 0 {
				errs = append(errs, field.Invalid(np, hdr.Name, "must be an HTTP header name: letters, digits and '-'"))
			}
		}
	}
	if t := p.TCPSocket; t != nil {
		errs = append(errs, validateProbePort(t.Port, path.Child("tcpSocket", "port"))...)
	}
	for _, n := range []struct {
		name string
		v    int32
	}{
		{"initialDelaySeconds", p.InitialDelaySeconds}, {"timeoutSeconds", p.TimeoutSeconds},
		{"periodSeconds", p.PeriodSeconds}, {"successThreshold", p.SuccessThreshold},
		{"failureThreshold", p.FailureThreshold},
	} {
		if n.v < 0 {
			errs = append(errs, field.Invalid(path.Child(n.name), n.v, "must be 0 or more"))
		}
	}
	if oneSuccess && p.SuccessThreshold > 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), p.SuccessThreshold, "must be 1 for liveness and startup probes"))
	}
	return errs
}

// validateProbePort accepts an unset port (the instance's own), a port
// number or a port name.
func validateProbePort(port intstr.IntOrString, path *field.Path) field.ErrorList {
	const help = "must be a port number between 1 and 65535 or a port name (at most 15 lower-case letters, digits and '-', with a letter)"
	switch {
	case port.Type == intstr.Int && port.IntVal != 0 && len(validation.IsValidPortNum(int(port.IntVal))) > 0:
		return field.ErrorList{field.Invalid(path, port.IntVal, help)}
	case port.Type == intstr.String && port.StrVal != "" && len(validation.IsValidPortName(port.StrVal)) > 0:
		return field.ErrorList{field.Invalid(path, port.StrVal, help)}
	}
	return nil
}

// maxHostLabel is the longest DNS label; a tagged revision is reached at
// TAG-NAME.NAMESPACE.DOMAIN, so TAG-NAME must fit in one.
const maxHostLabel = 63

func validateTraffic(function string, targets []TrafficTarget, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	var sum int64
	sumValid := len(targets) > 0
	tags := map[string]bool{}
	for i, t := range targets {
		tp := path.Index(i)
		latest := t.RevisionName == "" // what SetDefaults would say
		if t.LatestRevision != nil {
			latest = *t.LatestRevision
		}
		switch {
		case t.RevisionName != "" && latest:
			errs = append(errs, field.Invalid(tp.Child("latestRevision"), field.OmitValueType{},
				"must be false or unset when revisionName is set: a target names one revision or follows the latest"))
		case t.RevisionName == "" && !latest:
			errs = append(errs, field.Required(tp.Child("revisionName"), "is required when latestRevision is false"))
		}
		if t.RevisionName != "" {
			errs = append(errs, dns1123Label(t.RevisionName, tp.Child("revisionName"))...)
		}
		if t.Percent != nil {
			if p := *t.Percent; p < 0 || p > 100 {
				errs = append(errs, between(tp.Child("percent"), p, 0, 100))
				sumValid = false // the sum of bad shares would only add noise
			} else {
				sum += p
			}
		}
		if t.Tag != "" {
			errs = append(errs, dns1035Label(t.Tag, tp.Child("tag"))...)
			if tags[t.Tag] {
				errs = append(errs, field.Duplicate(tp.Child("tag"), t.Tag))
			}
			tags[t.Tag] = true
			if host := t.Tag + "-" + function; len(host) > maxHostLabel {
				errs = append(errs, field.Invalid(tp.Child("tag"), field.OmitValueType{},
					fmt.Sprintf("makes the host label %q %d characters long; at most %d fit", host, len(host), maxHostLabel)))
			}
		}
		if t.URL != "" {
			errs = append(errs, field.Forbidden(tp.Child("url"), "must not be set in spec: wake sets it in status"))
		}
	}
	if sumValid && sum != 100 {
		errs = append(errs, field.Invalid(path, sum, "must sum to 100"))
	}
	return errs
}

// between reports v outside [lo, hi].
func between(path *field.Path, v, lo, hi int64) *field.Error {
	return field.Invalid(path, v, fmt.Sprintf("must be between %d and %d", lo, hi))
}

func dns1035Label(v string, path *field.Path) field.ErrorList {
	if len(validation.IsDNS1035Label(v)) == 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(path, v,
		"must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit")}
}

func dns1123Label(v string, path *field.Path) field.ErrorList {
	if len(validation.IsDNS1123Label(v)) == 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(path, v,
		"must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")}
}

func validateLabels(labels map[string]string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(labels) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Key(k), k, "must be a valid label key: "+short(msgs[0])))
		}
		if msgs := validation.IsValidLabelValue(labels[k]); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Key(k), labels[k], "must be a valid label value: "+short(msgs[0])))
		}
	}
	return errs
}

// maxAnnotationBytes is Kubernetes' limit on an object's annotations, kept
// so that a function valid here is valid on a cluster.
const maxAnnotationBytes = 256 << 10

func validateAnnotations(annotations map[string]string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	total := 0
	for _, k := range sortedKeys(annotations) {
		total += len(k) + len(annotations[k])
		// Kubernetes' rule: a label key, except that case does not matter.
		if msgs := validation.IsQualifiedName(strings.ToLower(k)); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Key(k), k, "must be a valid annotation key: "+short(msgs[0])))
		}
	}
	if total > maxAnnotationBytes {
		errs = append(errs, field.Invalid(path, field.OmitValueType{},
			fmt.Sprintf("must total at most %d bytes, got %d", maxAnnotationBytes, total)))
	}
	return errs
}

// short drops the examples and regular expression apimachinery appends to
// its messages: users need the rule, not the regex.
func short(msg string) string {
	msg, _, _ = strings.Cut(msg, " (e.g.")
	msg, _, _ = strings.Cut(msg, ", regex used")
	return msg
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
