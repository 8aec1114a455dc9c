package v1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// valid returns a defaulted function that passes every check, for cases to
// break one thing at a time.
func valid() *Function {
	f := &Function{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: FunctionSpec{Template: RevisionTemplate{Spec: RevisionSpec{
			Containers: []Container{{Command: []string{"./hello"}}},
		}}},
	}
	f.SetDefaults()
	return f
}

func render(f *Function, opts ValidateOptions) []string {
	var out []string
	for _, e := range NewErrors(f.Validate(opts)) {
		out = append(out, e.String())
	}
	return out
}

func TestValidate(t *testing.T) {
	container := func(f *Function) *Container { return &f.Spec.Template.Spec.Containers[0] }
	tests := []struct {
		name   string
		opts   ValidateOptions
		mutate func(f *Function)
		want   []string
	}{
		{name: "valid", mutate: func(*Function) {}},
		{
			name:   "name required",
			mutate: func(f *Function) { f.Name = "" },
			want:   []string{"metadata.name: is required"},
		},
		{
			name:   "name must be a dns-1035 label",
			mutate: func(f *Function) { f.Name = "1hello" },
			want:   []string{`metadata.name: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got "1hello"`},
		},
		{
			name:   "name at most 63 characters",
			mutate: func(f *Function) { f.Name = strings.Repeat("a", 64) },
			want:   []string{`metadata.name: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got "` + strings.Repeat("a", 64) + `"`},
		},
		{
			name:   "namespace must be a dns-1123 label",
			mutate: func(f *Function) { f.Namespace = "Team_A" },
			want:   []string{`metadata.namespace: must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, got "Team_A"`},
		},
		{
			name: "labels and annotations",
			mutate: func(f *Function) {
				f.Labels = map[string]string{"ok": "fine", "bad key": "v", "k": "bad value!"}
				f.Annotations = map[string]string{"example.com/Mixed-Case": "ok", "/nope": "v"}
			},
			want: []string{
				`metadata.labels[bad key]: must be a valid label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, got "bad key"`,
				`metadata.labels[k]: must be a valid label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, got "bad value!"`,
				`metadata.annotations[/nope]: must be a valid annotation key: prefix part must be non-empty, got "/nope"`,
			},
		},
		{
			name:   "annotations size",
			mutate: func(f *Function) { f.Annotations = map[string]string{"big": strings.Repeat("x", 256<<10)} },
			want:   []string{"metadata.annotations: must total at most 262144 bytes, got 262147"},
		},
		{
			name: "template name",
			mutate: func(f *Function) {
				f.Spec.Template.Name = "world-00001"
				f.Spec.Template.Namespace = "other"
			},
			want: []string{
				`spec.template.metadata.name: must start with the function's name and a dash, "hello-", got "world-00001"`,
				`spec.template.metadata.namespace: must be empty or the function's namespace, "default", got "other"`,
			},
		},
		{
			name:   "template name with the prefix",
			mutate: func(f *Function) { f.Spec.Template.Name = "hello-v2" },
		},
		{
			name: "scaling annotations",
			mutate: func(f *Function) {
				f.Spec.Template.Annotations = map[string]string{
					AnnotationMaxScale: "2", AnnotationWindow: "2h", "autoscaling.knative.dev/maxScale": "3",
				}
			},
			want: []string{
				`spec.template.metadata.annotations[autoscaling.knative.dev/window]: must be in [1s; 1h0m0s] range, got "2h"`,
				"spec.template.metadata.annotations[autoscaling.knative.dev/maxScale]: set only one of autoscaling.knative.dev/max-scale and autoscaling.knative.dev/maxScale",
			},
		},
		{
			name: "min-scale above max-scale",
			mutate: func(f *Function) {
				f.Spec.Template.Annotations = map[string]string{AnnotationMinScale: "5", "autoscaling.knative.dev/maxScale": "2"}
			},
			want: []string{"spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]: must be at most max-scale (2), got 5"},
		},
		{
			name:   "no container",
			mutate: func(f *Function) { f.Spec.Template.Spec.Containers = nil },
			want:   []string{"spec.template.spec.containers: must have exactly one container: wake runs one container per function; got 0"},
		},
		{
			name: "two containers",
			mutate: func(f *Function) {
				f.Spec.Template.Spec.Containers = append(f.Spec.Template.Spec.Containers, Container{Name: "side", Image: "x"})
			},
			want: []string{"spec.template.spec.containers: must have exactly one container: wake runs one container per function; got 2"},
		},
		{
			name: "revision numbers",
			mutate: func(f *Function) {
				s := &f.Spec.Template.Spec
				s.ContainerConcurrency = ptr[int64](1001)
				s.TimeoutSeconds = ptr[int64](60)
				s.ResponseStartTimeoutSeconds = ptr[int64](61)
				s.IdleTimeoutSeconds = ptr[int64](-1)
			},
			want: []string{
				"spec.template.spec.containerConcurrency: must be between 0 and 1000, got 1001",
				"spec.template.spec.responseStartTimeoutSeconds: must be between 0 and timeoutSeconds (60), got 61",
				"spec.template.spec.idleTimeoutSeconds: must be between 0 and timeoutSeconds (60), got -1",
			},
		},
		{
			name:   "timeout bounds",
			mutate: func(f *Function) { f.Spec.Template.Spec.TimeoutSeconds = ptr[int64](3601) },
			want:   []string{"spec.template.spec.timeoutSeconds: must be between 1 and 3600, got 3601"},
		},
		{
			name: "kubernetes-only fields",
			mutate: func(f *Function) {
				f.Spec.Template.Spec.ServiceAccountName = "Robot"
				f.Spec.Template.Spec.ImagePullSecrets = []LocalObjectReference{{}}
				container(f).ImagePullPolicy = "Sometimes"
				container(f).Resources = &ResourceRequirements{Limits: map[string]resource.Quantity{"cpu": resource.MustParse("-1")}}
			},
			want: []string{
				`spec.template.spec.containers[0].imagePullPolicy: must be one of "Always", "IfNotPresent", "Never", got "Sometimes"`,
				`spec.template.spec.containers[0].resources.limits[cpu]: must not be negative, got "-1"`,
				`spec.template.spec.serviceAccountName: must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, got "Robot"`,
				"spec.template.spec.imagePullSecrets[0].name: is required",
			},
		},
		{
			name:   "image only: valid in both modes",
			mutate: func(f *Function) { *container(f) = Container{Name: "user-container", Image: "example.com/hello"} },
		},
		{
			name: "securityContext: root with runAsNonRoot, a negative group",
			mutate: func(f *Function) {
				yes, root, neg := true, int64(0), int64(-1)
				container(f).SecurityContext = &SecurityContext{RunAsNonRoot: &yes, RunAsUser: &root, RunAsGroup: &neg}
			},
			want: []string{
				"spec.template.spec.containers[0].securityContext.runAsGroup: must be between 0 and 2147483647, got -1",
				"spec.template.spec.containers[0].securityContext.runAsUser: must not be 0 (root) when runAsNonRoot is true, got 0",
			},
		},
		{
			name:   "neither image nor command",
			mutate: func(f *Function) { container(f).Command = nil },
			want:   []string{"spec.template.spec.containers[0].image: is required unless command is set"},
		},
		{
			name: "command",
			mutate: func(f *Function) {
				container(f).Command = []string{" ", "a\x00b"}
				container(f).Args = []string{"\x00"}
				container(f).Name = "Main"
			},
			want: []string{
				`spec.template.spec.containers[0].name: must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, got "Main"`,
				`spec.template.spec.containers[0].command[0]: must name the program to run, got " "`,
				`spec.template.spec.containers[0].command[1]: must not contain a NUL byte, got "a\x00b"`,
				`spec.template.spec.containers[0].args[0]: must not contain a NUL byte, got "\x00"`,
			},
		},
		{
			name: "env",
			mutate: func(f *Function) {
				container(f).Env = []EnvVar{
					{Name: "TARGET", Value: "world"}, {Name: ""}, {Name: "A=B"}, {Name: "K_REVISION"},
					{Name: "TARGET"}, {Name: "NUL", Value: "\x00"},
				}
			},
			want: []string{
				"spec.template.spec.containers[0].env[1].name: is required",
				`spec.template.spec.containers[0].env[2].name: must not contain '=' or a NUL byte, got "A=B"`,
				"spec.template.spec.containers[0].env[3].name: is reserved: wake sets it for every instance",
				`spec.template.spec.containers[0].env[4].name: must be unique, got "TARGET" more than once`,
				"spec.template.spec.containers[0].env[5].value: must not contain a NUL byte",
			},
		},
		{
			name: "ports",
			mutate: func(f *Function) {
				container(f).Ports = []ContainerPort{{ContainerPort: 70000, Name: "grpc", Protocol: "UDP"}, {ContainerPort: 8080}}
			},
			want: []string{
				"spec.template.spec.containers[0].ports: must have at most one port: wake sends requests to one port; got 2",
				"spec.template.spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 70000",
				`spec.template.spec.containers[0].ports[0].name: must be one of "http1", "h2c", got "grpc"`,
				`spec.template.spec.containers[0].ports[0].protocol: must be one of "TCP", got "UDP"`,
			},
		},
		{
			name: "h2c port",
			mutate: func(f *Function) {
				container(f).Ports = []ContainerPort{{Name: "h2c", ContainerPort: 9000, Protocol: "TCP"}}
			},
		},
		{
			name: "probes",
			mutate: func(f *Function) {
				container(f).ReadinessProbe = &Probe{
					ProbeHandler: ProbeHandler{
						HTTPGet: &HTTPGetAction{
							Path: "ready", Scheme: "ftp", Port: intstr.FromInt32(0),
							HTTPHeaders: []HTTPHeader{{Name: ""}, {Name: "Bad Header"}},
						},
						TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(70000)},
					},
					InitialDelaySeconds: -1,
				}
				container(f).LivenessProbe = &Probe{SuccessThreshold: 2, ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromString("Web_Port")}}}
				container(f).StartupProbe = &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}}
			},
			want: []string{
				"spec.template.spec.containers[0].readinessProbe.tcpSocket: must not be set with httpGet: a probe has one handler",
				`spec.template.spec.containers[0].readinessProbe.httpGet.path: must start with "/", got "ready"`,
				`spec.template.spec.containers[0].readinessProbe.httpGet.scheme: must be one of "HTTP", "HTTPS", got "ftp"`,
				"spec.template.spec.containers[0].readinessProbe.httpGet.httpHeaders[0].name: is required",
				`spec.template.spec.containers[0].readinessProbe.httpGet.httpHeaders[1].name: must be an HTTP header name: letters, digits and '-', got "Bad Header"`,
				"spec.template.spec.containers[0].readinessProbe.tcpSocket.port: must be a port number between 1 and 65535 or a port name (at most 15 lower-case letters, digits and '-', with a letter), got 70000",
				"spec.template.spec.containers[0].readinessProbe.initialDelaySeconds: must be 0 or more, got -1",
				`spec.template.spec.containers[0].livenessProbe.tcpSocket.port: must be a port number between 1 and 65535 or a port name (at most 15 lower-case letters, digits and '-', with a letter), got "Web_Port"`,
				"spec.template.spec.containers[0].livenessProbe.successThreshold: must be 1 for liveness and startup probes, got 2",
			},
		},
		{
			name: "traffic",
			mutate: func(f *Function) {
				f.Spec.Traffic = []TrafficTarget{
					{RevisionName: "hello-00001", LatestRevision: ptr(false), Percent: ptr[int64](50)},
					{LatestRevision: ptr(true), Percent: ptr[int64](40), Tag: "canary"},
				}
			},
			want: []string{"spec.traffic: must sum to 100, got 90"},
		},
		{
			name: "traffic targets",
			mutate: func(f *Function) {
				f.Spec.Traffic = []TrafficTarget{
					{RevisionName: "hello-00001", LatestRevision: ptr(true), Percent: ptr[int64](-10)},
					{LatestRevision: ptr(false), Percent: ptr[int64](140), Tag: "Canary"},
					{RevisionName: "Hello_2", LatestRevision: ptr(false), Percent: ptr[int64](0), Tag: "b", URL: "http://b-hello.default.example.com"},
					{LatestRevision: ptr(true), Percent: ptr[int64](0), Tag: "b"},
				}
			},
			want: []string{
				"spec.traffic[0].latestRevision: must be false or unset when revisionName is set: a target names one revision or follows the latest",
				"spec.traffic[0].percent: must be between 0 and 100, got -10",
				"spec.traffic[1].revisionName: is required when latestRevision is false",
				"spec.traffic[1].percent: must be between 0 and 100, got 140",
				`spec.traffic[1].tag: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got "Canary"`,
				`spec.traffic[2].revisionName: must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, got "Hello_2"`,
				"spec.traffic[2].url: must not be set in spec: wake sets it in status",
				`spec.traffic[3].tag: must be unique, got "b" more than once`,
			},
		},
		{
			name: "tag host label too long",
			mutate: func(f *Function) {
				f.Name = strings.Repeat("f", 50)
				f.Spec.Traffic[0].Tag = strings.Repeat("t", 13)
			},
			want: []string{`spec.traffic[0].tag: makes the host label "ttttttttttttt-ffffffffffffffffffffffffffffffffffffffffffffffffff" 64 characters long; at most 63 fit`},
		},
		{
			name: "not defaulted: nil pointers do not panic",
			mutate: func(f *Function) {
				f.Spec.Traffic = []TrafficTarget{{}}
				f.Spec.Template.Spec = RevisionSpec{Containers: []Container{{Image: "x"}}}
			},
			want: []string{"spec.traffic: must sum to 100, got 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := valid()
			tt.mutate(f)
			if diff := cmp.Diff(tt.want, render(f, tt.opts)); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHelloworldGo checks Knative's sample as its docs print it, image
// only: valid in both modes (embedded mode runs the image as a container).
func TestHelloworldGo(t *testing.T) {
	docs, err := Decode("helloworld-go.yaml", readFile(t, "helloworld-go.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := docs[0]
	d.Function.SetDefaults()
	if errs := d.Errors(d.Function.Validate(ValidateOptions{})); errs != nil {
		t.Errorf("Validate() = %v, want no errors: an image-only Knative Service runs in both modes", errs)
	}
}

// TestValidateReportsEveryProblemWithItsLine is the user's view: a manifest
// with many problems gets all of them, in line order, each at its line.
func TestValidateReportsEveryProblemWithItsLine(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{
			name: "traffic", file: "invalid.yaml",
			want: []string{
				"invalid.yaml:14: spec.traffic[1].percent: must be between 0 and 100, got 140",
				"invalid.yaml:17: spec.traffic[2].latestRevision: must be false or unset when revisionName is set: a target names one revision or follows the latest",
				`invalid.yaml:18: spec.traffic[2].tag: must be unique, got "canary" more than once`,
				"invalid.yaml:19: spec.traffic[2].url: must not be set in spec: wake sets it in status",
			},
		},
		{
			name: "everywhere", file: "problems.yaml",
			want: []string{
				`problems.yaml:4: metadata.name: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got "Hello"`,
				`problems.yaml:6: metadata.labels[bad key!]: must be a valid label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, got "bad key!"`,
				`problems.yaml:10: spec.template.metadata.name: must start with the function's name and a dash, "Hello-", got "other-00001"`,
				`problems.yaml:12: spec.template.metadata.annotations[autoscaling.knative.dev/window]: must be in [1s; 1h0m0s] range, got "2h"`,
				`problems.yaml:13: spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]: must be a whole number of instances, 0 or more, got "-1"`,
				"problems.yaml:15: spec.template.spec.containerConcurrency: must be between 0 and 1000, got 2000",
				"problems.yaml:16: spec.template.spec.timeoutSeconds: must be between 1 and 3600, got 0",
				"problems.yaml:17: spec.template.spec.containers: must have exactly one container: wake runs one container per function; got 2",
				`problems.yaml:18: spec.template.spec.containers[0].command[0]: must name the program to run, got ""`,
				"problems.yaml:20: spec.template.spec.containers[0].env[0].name: is reserved: wake sets it for every instance",
				`problems.yaml:22: spec.template.spec.containers[0].env[1].name: must not contain '=' or a NUL byte, got "A=B"`,
				`problems.yaml:24: spec.template.spec.containers[0].env[3].name: must be unique, got "TARGET" more than once`,
				"problems.yaml:26: spec.template.spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 70000",
				`problems.yaml:27: spec.template.spec.containers[0].ports[0].name: must be one of "http1", "h2c", got "http"`,
				`problems.yaml:28: spec.template.spec.containers[0].ports[0].protocol: must be one of "TCP", got "UDP"`,
				`problems.yaml:31: spec.template.spec.containers[0].readinessProbe.httpGet.path: must start with "/", got "healthz"`,
				`problems.yaml:32: spec.template.spec.containers[0].readinessProbe.httpGet.scheme: must be one of "HTTP", "HTTPS", got "FTP"`,
				`problems.yaml:33: spec.template.spec.containers[0].readinessProbe.httpGet.port: must be a port number between 1 and 65535 or a port name (at most 15 lower-case letters, digits and '-', with a letter), got "Not_A_Port"`,
				"problems.yaml:34: spec.template.spec.containers[0].readinessProbe.tcpSocket: must not be set with httpGet: a probe has one handler",
				"problems.yaml:35: spec.template.spec.containers[0].readinessProbe.periodSeconds: must be 0 or more, got -1",
				"problems.yaml:37: spec.traffic: must sum to 100, got 50",
				"problems.yaml:38: spec.traffic[0].revisionName: is required when latestRevision is false",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Decode(tt.file, readFile(t, tt.file))
			if err != nil || len(docs) != 1 {
				t.Fatalf("Decode: %d documents, error %v", len(docs), err)
			}
			d := docs[0]
			d.Function.SetDefaults()
			var got []string
			for _, e := range d.Errors(d.Function.Validate(ValidateOptions{})) {
				got = append(got, e.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestShippedManifestsAreValid keeps the good examples in testdata good.
func TestShippedManifestsAreValid(t *testing.T) {
	for _, file := range []string{"function.yaml", "function.json", "multi.yaml", "list.yaml", "helloworld-go.yaml"} {
		t.Run(file, func(t *testing.T) {
			docs, err := Decode(file, readFile(t, file))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				d.Function.SetDefaults()
				if errs := d.Errors(d.Function.Validate(ValidateOptions{})); errs != nil {
					t.Errorf("document %d: %v", d.Index, errs)
				}
			}
		})
	}
}
