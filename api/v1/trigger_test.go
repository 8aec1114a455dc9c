package v1

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkTriggers decodes a manifest, defaults and validates its triggers,
// and returns them with every problem rendered, decoding's first.
func checkTriggers(t *testing.T, source string, data []byte) ([]*Trigger, []string) {
	t.Helper()
	docs, err := Decode(source, data)
	var out []string
	if err != nil {
		var list Errors
		if !errors.As(err, &list) {
			t.Fatalf("Decode returned a %T, want Errors", err)
		}
		for _, e := range list {
			out = append(out, e.String())
		}
	}
	var triggers []*Trigger
	for _, d := range docs {
		if d.Trigger == nil {
			t.Fatalf("document %d is not a trigger", d.Index)
		}
		d.Trigger.SetDefaults()
		for _, e := range d.Errors(d.Trigger.Validate()) {
			out = append(out, e.String())
		}
		triggers = append(triggers, d.Trigger)
	}
	return triggers, out
}

func trigger(name, namespace string, spec TriggerSpec) *Trigger {
	return &Trigger{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindTrigger},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       spec,
	}
}

// TestDecodeTrigger checks every field of wake's own trigger manifests
// lands where it belongs, defaults included.
func TestDecodeTrigger(t *testing.T) {
	got, errs := checkTriggers(t, "trigger.yaml", readFile(t, "trigger.yaml"))
	if errs != nil {
		t.Fatalf("problems: %q", errs)
	}
	want := []*Trigger{
		trigger("orders", "shop", TriggerSpec{
			Kafka: &KafkaTrigger{
				BootstrapServers: []string{"kafka-1:9092", "kafka-2:9092"},
				Topics:           []string{"orders", "refunds"},
				ConsumerGroup:    "shop-orders",
				InitialOffset:    OffsetEarliest,
				SASL:             &KafkaSASL{Mechanism: SASLSCRAMSHA512, User: "shop", PasswordFile: "/etc/wake/kafka-password"},
				TLS: &KafkaTLS{Enable: true, CAFile: "/etc/wake/kafka-ca.pem",
					CertFile: "/etc/wake/kafka.pem", KeyFile: "/etc/wake/kafka-key.pem"},
			},
			Sink: Sink{Function: "orders", Tag: "canary"},
			Delivery: &DeliverySpec{Retry: ptr[int32](5), BackoffPolicy: BackoffLinear, BackoffDelay: "PT0.5S",
				Timeout: "PT30S", DeadLetterSink: &DeadLetterSink{KafkaTopic: "orders-dead"}},
			RateLimit:   ptr(50.0),
			Ordering:    OrderingKey,
			CEOverrides: &CloudEventOverrides{Extensions: map[string]string{"team": "shop"}},
		}),
		trigger("nightly", DefaultNamespace, TriggerSpec{
			Cron: &CronTrigger{Schedule: "30 0 2 * * *", Timezone: "Europe/Paris", Data: `{"report": "daily"}`,
				ContentType: "application/json", MisfirePolicy: MisfireFireOnce, ConcurrencyPolicy: ConcurrencyForbid},
			Sink: Sink{URI: "https://example.com/hooks/nightly"},
			Delivery: &DeliverySpec{BackoffPolicy: BackoffExponential,
				DeadLetterSink: &DeadLetterSink{Sink: Sink{Function: "dead-letters"}}},
		}),
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("triggers mismatch (-want +got):\n%s", diff)
	}
}

// TestDecodeKnativeSources decodes Knative's PingSource and KafkaSource
// examples exactly as its docs print them: each becomes a Trigger.
func TestDecodeKnativeSources(t *testing.T) {
	for _, tc := range []struct {
		file string
		want *Trigger
	}{{
		file: "pingsource.yaml",
		want: trigger("test-ping-source", DefaultNamespace, TriggerSpec{
			Cron: &CronTrigger{Schedule: "*/2 * * * *", Data: `{"message": "Hello world!"}`,
				MisfirePolicy: MisfireSkip, ConcurrencyPolicy: ConcurrencyAllow},
			Sink: Sink{Function: "event-display"},
		}),
	}, {
		file: "kafkasource.yaml",
		want: trigger("kafka-source", DefaultNamespace, TriggerSpec{
			Kafka: &KafkaTrigger{BootstrapServers: []string{"my-cluster-kafka-bootstrap.kafka:9092"},
				Topics: []string{"knative-demo-topic"}, ConsumerGroup: "knative-group", InitialOffset: OffsetLatest},
			Sink:     Sink{Function: "event-display"},
			Ordering: OrderingPartition,
		}),
	}, {
		file: "kafkasource-sasl.yaml",
		want: func() *Trigger {
			secret := func(key string) *SecretKeySelector {
				return &SecretKeySelector{Name: "kafka-secret-source", Key: key}
			}
			tr := trigger("kafka-source-demo", DefaultNamespace, TriggerSpec{
				Kafka: &KafkaTrigger{
					BootstrapServers: []string{"kafka-0.example.com:9093", "kafka-1.example.com:9093"},
					Topics:           []string{"my-demo-topic"}, ConsumerGroup: "my-demo-group", InitialOffset: OffsetEarliest,
					SASL: &KafkaSASL{MechanismSecret: secret("type"), UserSecret: secret("username"), PasswordSecret: secret("password")},
					TLS:  &KafkaTLS{Enable: true, CACertSecret: secret("ca.crt")},
				},
				Sink: Sink{Function: "event-display"},
				Delivery: &DeliverySpec{Retry: ptr[int32](3), BackoffPolicy: BackoffExponential, BackoffDelay: "PT0.2S",
					DeadLetterSink: &DeadLetterSink{Sink: Sink{URI: "http://dead-letters.example.com"}}},
				Ordering: OrderingPartition,
			})
			tr.Annotations = map[string]string{"autoscaling.knative.dev/minScale": "0"}
			return tr
		}(),
	}} {
		t.Run(tc.file, func(t *testing.T) {
			got, errs := checkTriggers(t, tc.file, readFile(t, tc.file))
			if errs != nil || len(got) != 1 {
				t.Fatalf("%d triggers, problems %q", len(got), errs)
			}
			if diff := cmp.Diff(tc.want, got[0], cmpOpts); diff != "" {
				t.Errorf("trigger mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTriggerProblems reports every problem of a bad trigger at once,
// each with its field path and line.
func TestTriggerProblems(t *testing.T) {
	_, got := checkTriggers(t, "trigger-problems.yaml", readFile(t, "trigger-problems.yaml"))
	want := []string{
		`trigger-problems.yaml:4: metadata.name: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got "Orders"`,
		`trigger-problems.yaml:7: spec.kafka.bootstrapServers[0]: must be host:port with a port between 1 and 65535, got "kafka-1"`,
		`trigger-problems.yaml:7: spec.kafka.bootstrapServers[1]: must be host:port with a port between 1 and 65535, got "kafka-2:99999"`,
		`trigger-problems.yaml:8: spec.kafka.topics[0]: must be a Kafka topic name: 1 to 249 letters, digits, '.', '_' and '-', got "bad topic!"`,
		`trigger-problems.yaml:8: spec.kafka.topics[2]: must be unique, got "ok" more than once`,
		`trigger-problems.yaml:9: spec.kafka.initialOffset: must be one of "earliest", "latest", got "newest"`,
		"trigger-problems.yaml:10: spec.kafka.sasl.user: is required (or userSecret)",
		`trigger-problems.yaml:11: spec.kafka.sasl.mechanism: must be one of "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", got "SCRAM-SHA-1"`,
		"trigger-problems.yaml:13: spec.kafka.sasl.passwordSecret: must not be set with passwordFile",
		"trigger-problems.yaml:14: spec.kafka.tls.enable: is required to be true when other tls fields are set",
		"trigger-problems.yaml:14: spec.kafka.tls.keyFile: is required with certFile",
		"trigger-problems.yaml:16: spec.cron: must not be set with kafka: a trigger has exactly one source",
		`trigger-problems.yaml:17: spec.cron.schedule: must be a cron schedule ([seconds] minute hour day-of-month month day-of-week, or a descriptor such as @hourly): end of range (61) above maximum (59): 61, got "61 * * * *"`,
		`trigger-problems.yaml:18: spec.cron.timezone: must be an IANA time zone such as Europe/Paris or UTC, got "Mars/Olympus"`,
		"trigger-problems.yaml:19: spec.sink: must set exactly one of function or uri",
		`trigger-problems.yaml:21: spec.sink.uri: must be an absolute http or https URL, got "ftp://example.com"`,
		`trigger-problems.yaml:22: spec.sink.tag: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got "Canary"`,
		"trigger-problems.yaml:24: spec.delivery.retry: must be 0 or more, got -1",
		`trigger-problems.yaml:25: spec.delivery.backoffPolicy: must be one of "exponential", "linear", got "random"`,
		`trigger-problems.yaml:26: spec.delivery.backoffDelay: must be an ISO-8601 duration such as PT0.5S or PT1M30S (must start with 'P', like PT0.2S), got "0.5s"`,
		`trigger-problems.yaml:27: spec.delivery.timeout: must be an ISO-8601 duration such as PT0.5S or PT1M30S ('M' (years or months) has no fixed length; use days, or hours after 'T'), got "P1M"`,
		"trigger-problems.yaml:28: spec.delivery.deadLetterSink: is required: set one of function, uri or kafkaTopic",
		"trigger-problems.yaml:29: spec.rateLimit: must be more than 0 events per second, got 0",
		`trigger-problems.yaml:30: spec.ordering: must be one of "partition", "key", got "random"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
}

func TestTriggerManifests(t *testing.T) {
	for _, tc := range []struct {
		name     string
		manifest string
		wantErrs []string
	}{{
		name: "cron with a seconds field, a descriptor, base64 data",
		manifest: `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: tick}
spec:
  cron: {schedule: "*/10 * * * * *", dataBase64: "aGk="}
  sink: {function: tick}
---
apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: tock}
spec:
  cron: {schedule: "@every 90s"}
  sink: {uri: "http://localhost:8080/tock"}
`,
	}, {
		name: "@every below a second",
		manifest: `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: tick}
spec:
  cron: {schedule: "TZ=UTC @every 500ms"}
  sink: {function: tick}
`,
		wantErrs: []string{`in.yaml:5: spec.cron.schedule: must be a cron schedule ([seconds] minute hour day-of-month month day-of-week, or a descriptor such as @hourly): @every 500ms: the interval must be whole seconds, at least 1s, got "TZ=UTC @every 500ms"`},
	}, {
		name: "schedule that never fires",
		manifest: `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: tick}
spec:
  cron: {schedule: "0 0 30 2 *"}
  sink: {function: tick}
`,
		wantErrs: []string{`in.yaml:5: spec.cron.schedule: must be a cron schedule ([seconds] minute hour day-of-month month day-of-week, or a descriptor such as @hourly): never fires (no date matches it), got "0 0 30 2 *"`},
	}, {
		name: "inline password",
		manifest: `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: orders}
spec:
  kafka:
    bootstrapServers: ["kafka:9092"]
    topics: [orders]
    sasl: {user: shop, password: hunter2}
  sink: {function: orders}
`,
		wantErrs: []string{"in.yaml:8: spec.kafka.sasl.password: is not accepted: a password in a manifest ends up in version control and `wake get`; use passwordFile or passwordSecret"},
	}, {
		name: "no source, no sink",
		manifest: `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: empty}
spec:
  ordering: key
`,
		wantErrs: []string{
			"in.yaml:4: spec: is required: a trigger has exactly one source, kafka or cron",
			"in.yaml:4: spec.sink: is required: set one of function or uri",
			"in.yaml:5: spec.ordering: applies to kafka triggers only",
		},
	}, {
		name: "cron problems",
		manifest: `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: tick}
spec:
  cron:
    schedule: "TZ=Europe/Paris 0 9 * * *"
    timezone: UTC
    data: x
    dataBase64: "!!"
    contentType: "not a type"
    misfirePolicy: always
    concurrencyPolicy: replace
  sink: {function: tick, tag: blue}
  delivery:
    deadLetterSink: {kafkaTopic: dead}
`,
		wantErrs: []string{
			`in.yaml:7: spec.cron.timezone: must not be set when the schedule names a time zone (TZ=...)`,
			`in.yaml:9: spec.cron.dataBase64: must not be set with data`,
			`in.yaml:9: spec.cron.dataBase64: must be standard base64 (illegal base64 data at input byte 0)`,
			`in.yaml:10: spec.cron.contentType: must be a media type such as application/json, got "not a type"`,
			`in.yaml:11: spec.cron.misfirePolicy: must be one of "skip", "fireOnce", got "always"`,
			`in.yaml:12: spec.cron.concurrencyPolicy: must be one of "allow", "forbid", got "replace"`,
			`in.yaml:15: spec.delivery.deadLetterSink.kafkaTopic: applies to kafka triggers only: the topic is on the trigger's brokers`,
		},
	}, {
		name: "sasl and tls from secrets",
		manifest: `apiVersion: wake.dev/v1
kind: Trigger
metadata: {name: orders}
spec:
  kafka:
    bootstrapServers: ["kafka:9092"]
    topics: [orders]
    sasl:
      mechanism: PLAIN
      mechanismSecret: {name: kafka, key: type}
      userSecret: {name: kafka, key: user}
      passwordSecret: {name: Kafka_Secret, key: ""}
    tls:
      enable: true
      keySecret: {name: kafka, key: "tls.key"}
  sink: {function: orders}
`,
		wantErrs: []string{
			`in.yaml:10: spec.kafka.sasl.mechanismSecret: must not be set with mechanism`,
			`in.yaml:12: spec.kafka.sasl.passwordSecret.name: must be a secret name: lower-case letters, digits, '-' and '.', got "Kafka_Secret"`,
			`in.yaml:12: spec.kafka.sasl.passwordSecret.key: is required`,
			`in.yaml:13: spec.kafka.tls.certSecret: is required with keySecret`,
		},
	}, {
		name: "PingSource: errors name the fields as written",
		manifest: `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: ping
spec:
  schedule: "every minute"
  timezone: Nowhere/Land
  sink:
    uri: "/relative"
`,
		wantErrs: []string{
			`in.yaml:6: spec.schedule: must be a cron schedule ([seconds] minute hour day-of-month month day-of-week, or a descriptor such as @hourly): expected 5 to 6 fields, found 2: [every minute], got "every minute"`,
			`in.yaml:7: spec.timezone: must be an IANA time zone such as Europe/Paris or UTC, got "Nowhere/Land"`,
			`in.yaml:9: spec.sink.uri: must be an absolute http or https URL, got "/relative"`,
		},
	}, {
		name: "PingSource to a Broker",
		manifest: `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: ping
  namespace: team-a
spec:
  schedule: "*/1 * * * *"
  sink:
    ref:
      apiVersion: eventing.knative.dev/v1
      kind: Broker
      name: default
      namespace: team-b
    uri: /path
    CACerts: "..."
`,
		// The field wake does not support hides none of the others.
		wantErrs: []string{
			`in.yaml:11: spec.sink.ref.kind: wake can only deliver to a Knative Service (serving.knative.dev/v1), a wake Function (wake.dev/v1) or a uri, got kind "Broker" of apiVersion "eventing.knative.dev/v1"`,
			`in.yaml:13: spec.sink.ref.namespace: must be the source's own namespace, "team-a": wake delivers to functions of the trigger's namespace, got "team-b"`,
			"in.yaml:14: spec.sink.uri: must not be set with ref: wake delivers to a function or to a URI, not to a path under a function",
			"in.yaml:15: spec.sink.CACerts: is not supported by wake",
		},
	}, {
		name: "PingSource to a Broker, conversion errors",
		manifest: `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: ping
  namespace: team-a
spec:
  schedule: "*/1 * * * *"
  sink:
    ref:
      apiVersion: eventing.knative.dev/v1
      kind: Broker
      name: default
      namespace: team-b
    uri: /path
`,
		wantErrs: []string{
			`in.yaml:11: spec.sink.ref.kind: wake can only deliver to a Knative Service (serving.knative.dev/v1), a wake Function (wake.dev/v1) or a uri, got kind "Broker" of apiVersion "eventing.knative.dev/v1"`,
			`in.yaml:13: spec.sink.ref.namespace: must be the source's own namespace, "team-a": wake delivers to functions of the trigger's namespace, got "team-b"`,
			`in.yaml:14: spec.sink.uri: must not be set with ref: wake delivers to a function or to a URI, not to a path under a function`,
		},
	}, {
		// A KafkaSource with SASL and TLS from secrets, as Knative's
		// users write it; its sink is a Kubernetes Service, which wake
		// cannot deliver to.
		name: "KafkaSource with secrets, to a Kubernetes Service",
		manifest: `apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata:
  name: kafka-source-demo
  annotations:
    autoscaling.knative.dev/minScale: "0"
spec:
  consumers: 12
  consumerGroup: my-demo-group
  bootstrapServers:
  - kafka-0.example.com:9093
  topics:
  - my-demo-topic
  net:
    sasl:
      enable: true
      type:
        secretKeyRef:
          name: kafka-secret-source
          key: type
      user:
        secretKeyRef:
          name: kafka-secret-source
          key: username
      password:
        secretKeyRef:
          name: kafka-secret-source
          key: password
    tls:
      enable: true
  sink:
    ref:
      apiVersion: v1
      kind: Service
      name: eventdisplay
`,
		wantErrs: []string{
			`in.yaml:34: spec.sink.ref.kind: wake can only deliver to a Knative Service (serving.knative.dev/v1), a wake Function (wake.dev/v1) or a uri, got kind "Service" of apiVersion "v1"`,
		},
	}, {
		name: "KafkaSource: validation errors name the fields as written",
		manifest: `apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata:
  name: src
spec:
  bootstrapServers: [kafka]
  topics: []
  initialOffset: oldest
  ordering: unordered
  net:
    sasl:
      enable: true
      user:
        secretKeyRef: {name: kafka, key: user}
    tls:
      enable: true
      cert:
        secretKeyRef: {name: kafka, key: tls.crt}
  delivery:
    retry: 3
    backoffDelay: PT1X
    deadLetterSink:
      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: Dead}
  sink:
    ref: {apiVersion: wake.dev/v1, kind: Function, name: handler}
`,
		wantErrs: []string{
			`in.yaml:6: spec.bootstrapServers[0]: must be host:port with a port between 1 and 65535, got "kafka"`,
			`in.yaml:7: spec.topics: is required: list at least one topic`,
			`in.yaml:8: spec.initialOffset: must be one of "earliest", "latest", got "oldest"`,
			`in.yaml:11: spec.net.sasl.password: is required (or passwordSecret): wake takes no password in a manifest`,
			`in.yaml:15: spec.net.tls.key.secretKeyRef: is required with certSecret`,
			`in.yaml:21: spec.delivery.backoffDelay: must be an ISO-8601 duration such as PT0.5S or PT1M30S (unknown time unit 'X'), got "PT1X"`,
			`in.yaml:23: spec.delivery.deadLetterSink.ref.name: must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, got "Dead"`,
		},
	}, {
		name: "KafkaSource, ordered, to a URI, dead letters to a Service",
		manifest: `apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: {name: src, namespace: team-a}
spec:
  bootstrapServers: ["kafka:9092"]
  topics: [a]
  ordering: ordered
  delivery:
    deadLetterSink:
      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead, namespace: team-a}
  sink:
    uri: https://example.com/events
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := checkTriggers(t, "in.yaml", []byte(tc.manifest))
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseISODuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "PT0.5S", want: 500 * time.Millisecond},
		{in: "PT1M30S", want: 90 * time.Second},
		{in: "PT1,5M", want: 90 * time.Second},
		{in: "P1DT2H", want: 26 * time.Hour},
		{in: "P2W", want: 14 * 24 * time.Hour},
		{in: "PT0S", want: 0},
		{in: "P1D", want: 24 * time.Hour},
		{in: "", wantErr: "empty; want a value like PT0.2S"},
		{in: "0.5s", wantErr: "must start with 'P', like PT0.2S"},
		{in: "P", wantErr: "no components after 'P'"},
		{in: "PT", wantErr: "no time components after 'T'"},
		{in: "P1DT", wantErr: "no time components after 'T'"},
		{in: "P1M", wantErr: "'M' (years or months) has no fixed length; use days, or hours after 'T'"},
		{in: "P1Y", wantErr: "'Y' (years or months) has no fixed length; use days, or hours after 'T'"},
		{in: "PT1S1M", wantErr: `unit 'M' out of order or repeated`},
		{in: "PT1H1H", wantErr: `unit 'H' out of order or repeated`},
		{in: "P1H", wantErr: `'H' must come after 'T', like PT1H`},
		{in: "PT0.5M1S", wantErr: "only the last component may have a fraction"},
		{in: "PT-1S", wantErr: `expected a number at "-1S"`},
		{in: "PT1.2.3S", wantErr: `malformed number "1.2.3"`},
		{in: "PT.5S", wantErr: `malformed number ".5"`},
		{in: "PT5", wantErr: `number "5" has no unit designator`},
		{in: "PTT1S", wantErr: "'T' appears twice"},
		{in: "P99999999999W", wantErr: "too large"},
		{in: "P1W2D", wantErr: "weeks cannot be combined with other units"},
	} {
		got, err := ParseISODuration(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.wantErr {
			t.Errorf("ParseISODuration(%q) = %v, %q; want %v, %q", tc.in, got, gotErr, tc.want, tc.wantErr)
		}
	}
}
