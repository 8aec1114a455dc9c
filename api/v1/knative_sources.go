package v1

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Knative's event sources, accepted on input as written for Knative and
// converted to Triggers. Only the fields wake can honour are here; the
// others are reported as unsupported (see fields.go).
const (
	KnativeSourcesAPIVersion        = "sources.knative.dev/v1"
	KnativeSourcesV1beta1APIVersion = "sources.knative.dev/v1beta1"
	KindPingSource                  = "PingSource"
	KindKafkaSource                 = "KafkaSource"
)

// PingSource is Knative's sources.knative.dev/v1 PingSource.
type PingSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PingSourceSpec `json:"spec"`
}

// PingSourceSpec is Knative's; it becomes a cron trigger.
type PingSourceSpec struct {
	Schedule    string               `json:"schedule,omitempty"`
	Timezone    string               `json:"timezone,omitempty"`
	ContentType string               `json:"contentType,omitempty"`
	Data        string               `json:"data,omitempty"`
	DataBase64  string               `json:"dataBase64,omitempty"`
	Sink        Destination          `json:"sink"`
	CEOverrides *CloudEventOverrides `json:"ceOverrides,omitempty"`
}

// KafkaSource is Knative's sources.knative.dev/v1beta1 KafkaSource.
type KafkaSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              KafkaSourceSpec `json:"spec"`
}

// KafkaSourceSpec is Knative's; it becomes a kafka trigger.
type KafkaSourceSpec struct {
	BootstrapServers []string     `json:"bootstrapServers,omitempty"`
	Net              KafkaNetSpec `json:"net,omitempty"`
	Topics           []string     `json:"topics,omitempty"`
	ConsumerGroup    string       `json:"consumerGroup,omitempty"`
	InitialOffset    string       `json:"initialOffset,omitempty"`
	// Ordering is Knative's: "ordered" or "unordered" (its default). Both
	// become wake's per-partition order: in order is a correct way to
	// deliver what may be unordered.
	Ordering string `json:"ordering,omitempty"`
	// Consumers is how many consumers Knative runs; wake sizes its
	// consumer itself, so it is accepted and ignored.
	Consumers   *int32               `json:"consumers,omitempty"`
	Delivery    *KnativeDeliverySpec `json:"delivery,omitempty"`
	Sink        Destination          `json:"sink"`
	CEOverrides *CloudEventOverrides `json:"ceOverrides,omitempty"`
}

// KafkaNetSpec is how Knative's KafkaSource reaches its brokers.
type KafkaNetSpec struct {
	SASL KafkaSASLSpec `json:"sasl,omitempty"`
	TLS  KafkaTLSSpec  `json:"tls,omitempty"`
}

// KafkaSASLSpec is Knative's: every value comes from a secret.
type KafkaSASLSpec struct {
	Enable   bool                  `json:"enable,omitempty"`
	User     SecretValueFromSource `json:"user,omitempty"`
	Password SecretValueFromSource `json:"password,omitempty"`
	Type     SecretValueFromSource `json:"type,omitempty"`
}

// KafkaTLSSpec is Knative's.
type KafkaTLSSpec struct {
	Enable bool                  `json:"enable,omitempty"`
	Cert   SecretValueFromSource `json:"cert,omitempty"`
	Key    SecretValueFromSource `json:"key,omitempty"`
	CACert SecretValueFromSource `json:"caCert,omitempty"`
}

// SecretValueFromSource is a value kept in a secret.
type SecretValueFromSource struct {
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// Destination is Knative's duck-typed sink: an object reference or a URI.
type Destination struct {
	Ref *KReference `json:"ref,omitempty"`
	URI string      `json:"uri,omitempty"`
}

// KReference points at a Kubernetes object.
type KReference struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

// KnativeDeliverySpec is Knative's DeliverySpec, with its Destination.
type KnativeDeliverySpec struct {
	DeadLetterSink *Destination `json:"deadLetterSink,omitempty"`
	Retry          *int32       `json:"retry,omitempty"`
	BackoffPolicy  string       `json:"backoffPolicy,omitempty"`
	BackoffDelay   string       `json:"backoffDelay,omitempty"`
	Timeout        string       `json:"timeout,omitempty"`
	RetryAfterMax  string       `json:"retryAfterMax,omitempty"`
}

// rename maps a prefix of a Trigger's field paths to where a Knative
// manifest wrote the field, so errors found in the converted trigger name
// the user's field and line.
type rename struct{ from, to string }

// pingRenames are PingSource's fields as a Trigger's.
var pingRenames = []rename{
	{"spec.sink.function", "spec.sink.ref.name"},
	{"spec.cron", "spec"},
}

// kafkaRenames are KafkaSource's fields as a Trigger's, longest first.
var kafkaRenames = []rename{
	{"spec.kafka.sasl.mechanismSecret", "spec.net.sasl.type.secretKeyRef"},
	{"spec.kafka.sasl.userSecret", "spec.net.sasl.user.secretKeyRef"},
	{"spec.kafka.sasl.passwordSecret", "spec.net.sasl.password.secretKeyRef"},
	{"spec.kafka.sasl.mechanism", "spec.net.sasl.type"},
	{"spec.kafka.sasl.user", "spec.net.sasl.user"},
	{"spec.kafka.sasl.passwordFile", "spec.net.sasl.password"},
	{"spec.kafka.sasl", "spec.net.sasl"},
	{"spec.kafka.tls.caCertSecret", "spec.net.tls.caCert.secretKeyRef"},
	{"spec.kafka.tls.certSecret", "spec.net.tls.cert.secretKeyRef"},
	{"spec.kafka.tls.keySecret", "spec.net.tls.key.secretKeyRef"},
	{"spec.kafka.tls", "spec.net.tls"},
	{"spec.kafka", "spec"},
	{"spec.sink.function", "spec.sink.ref.name"},
	{"spec.delivery.deadLetterSink.function", "spec.delivery.deadLetterSink.ref.name"},
}

// renamePath rewrites path by the first rename whose from is a prefix of
// it on a field boundary.
func renamePath(path string, renames []rename) string {
	for _, r := range renames {
		if rest, ok := strings.CutPrefix(path, r.from); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			return r.to + rest
		}
	}
	return path
}

// Trigger converts a PingSource to a cron trigger. Errors are for what
// wake cannot express (a sink that is not a function or a URI), under the
// PingSource's field paths.
func (p *PingSource) Trigger() (*Trigger, field.ErrorList) {
	t := &Trigger{TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: KindTrigger}, ObjectMeta: p.ObjectMeta}
	s := p.Spec
	t.Spec.Cron = &CronTrigger{Schedule: s.Schedule, Timezone: s.Timezone, Data: s.Data,
		DataBase64: s.DataBase64, ContentType: s.ContentType}
	t.Spec.CEOverrides = s.CEOverrides
	var errs field.ErrorList
	t.Spec.Sink, errs = s.Sink.sink(p.Namespace, field.NewPath("spec", "sink"))
	return t, errs
}

// Trigger converts a KafkaSource to a kafka trigger; see
// PingSource.Trigger.
func (k *KafkaSource) Trigger() (*Trigger, field.ErrorList) {
	t := &Trigger{TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: KindTrigger}, ObjectMeta: k.ObjectMeta}
	s := k.Spec
	spec := field.NewPath("spec")
	kt := &KafkaTrigger{BootstrapServers: s.BootstrapServers, Topics: s.Topics,
		ConsumerGroup: s.ConsumerGroup, InitialOffset: s.InitialOffset}
	if sasl := s.Net.SASL; sasl.Enable {
		kt.SASL = &KafkaSASL{MechanismSecret: sasl.Type.SecretKeyRef, UserSecret: sasl.User.SecretKeyRef,
			PasswordSecret: sasl.Password.SecretKeyRef}
	}
	if tls := s.Net.TLS; tls.Enable {
		kt.TLS = &KafkaTLS{Enable: true, CACertSecret: tls.CACert.SecretKeyRef,
			CertSecret: tls.Cert.SecretKeyRef, KeySecret: tls.Key.SecretKeyRef}
	}
	t.Spec.Kafka = kt
	t.Spec.CEOverrides = s.CEOverrides
	var errs field.ErrorList
	switch s.Ordering {
	case "", "ordered", "unordered":
	default:
		errs = append(errs, field.NotSupported(spec.Child("ordering"), s.Ordering, []string{"ordered", "unordered"}))
	}
	var sinkErrs field.ErrorList
	t.Spec.Sink, sinkErrs = s.Sink.sink(k.Namespace, spec.Child("sink"))
	errs = append(errs, sinkErrs...)
	if d := s.Delivery; d != nil {
		t.Spec.Delivery = &DeliverySpec{Retry: d.Retry, BackoffPolicy: d.BackoffPolicy,
			BackoffDelay: d.BackoffDelay, Timeout: d.Timeout, RetryAfterMax: d.RetryAfterMax}
		if d.DeadLetterSink != nil {
			dl, dlErrs := d.DeadLetterSink.sink(k.Namespace, spec.Child("delivery", "deadLetterSink"))
			t.Spec.Delivery.DeadLetterSink = &DeadLetterSink{Sink: dl}
			errs = append(errs, dlErrs...)
		}
	}
	return t, errs
}

// sink converts a Knative destination: a reference to a Knative Service
// or a wake Function becomes a function sink, a URI stays one.
func (d Destination) sink(namespace string, path *field.Path) (Sink, field.ErrorList) {
	if d.Ref == nil {
		return Sink{URI: d.URI}, nil
	}
	var errs field.ErrorList
	ref, rp := d.Ref, path.Child("ref")
	if d.URI != "" {
		errs = append(errs, field.Forbidden(path.Child("uri"),
			"must not be set with ref: wake delivers to a function or to a URI, not to a path under a function"))
	}
	switch {
	case ref.APIVersion == KnativeServingAPIVersion && ref.Kind == KindService,
		ref.APIVersion == APIVersion && ref.Kind == KindFunction:
	default:
		errs = append(errs, field.Invalid(rp.Child("kind"), field.OmitValueType{}, fmt.Sprintf(
			"wake can only deliver to a Knative Service (serving.knative.dev/v1), a wake Function (wake.dev/v1) or a uri, got kind %q of apiVersion %q",
			ref.Kind, ref.APIVersion)))
	}
	if ref.Namespace != "" && ref.Namespace != namespace && !(namespace == "" && ref.Namespace == DefaultNamespace) {
		errs = append(errs, field.Invalid(rp.Child("namespace"), ref.Namespace,
			fmt.Sprintf("must be the source's own namespace, %q: wake delivers to functions of the trigger's namespace", orDefault(namespace))))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	}
	return Sink{Function: ref.Name}, errs
}

func orDefault(namespace string) string {
	if namespace == "" {
		return DefaultNamespace
	}
	return namespace
}
