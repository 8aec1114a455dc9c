package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KindTrigger is wake's kind for an event source bound to a sink.
const KindTrigger = "Trigger"

// Trigger turns events from one source (a Kafka consumer group or a cron
// schedule) into CloudEvents and POSTs them to a sink, through the router,
// so events wake functions from zero and follow canary weights. Knative's
// PingSource and KafkaSource manifests decode into one (see
// knative_sources.go).
type Trigger struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TriggerSpec   `json:"spec"`
	Status TriggerStatus `json:"status,omitempty"`
}

// TriggerSpec is what the user asks for. Exactly one of Kafka and Cron is
// set.
type TriggerSpec struct {
	Kafka *KafkaTrigger `json:"kafka,omitempty"`
	Cron  *CronTrigger  `json:"cron,omitempty"`

	// Sink is where events go.
	Sink Sink `json:"sink"`
	// Delivery is how failed deliveries are retried and where they end
	// up; Knative's DeliverySpec. Nil means no retries, no dead letters.
	Delivery *DeliverySpec `json:"delivery,omitempty"`
	// RateLimit caps deliveries at this many events per second (0.5 is
	// one every two seconds). Nil means no limit.
	RateLimit *float64 `json:"rateLimit,omitempty"`
	// Ordering is for Kafka triggers: "partition" (the default) delivers
	// one event at a time per partition; "key" one at a time per message
	// key, so keys of one partition do not wait for each other.
	Ordering string `json:"ordering,omitempty"`
	// CEOverrides adds extension attributes to every CloudEvent, as in
	// Knative's sources.
	CEOverrides *CloudEventOverrides `json:"ceOverrides,omitempty"`
}

// Orderings of Kafka deliveries.
const (
	OrderingPartition = "partition"
	OrderingKey       = "key"
)

// KafkaTrigger consumes topics as a consumer group.
type KafkaTrigger struct {
	// BootstrapServers are host:port addresses of brokers.
	BootstrapServers []string `json:"bootstrapServers"`
	Topics           []string `json:"topics"`
	// ConsumerGroup defaults to wake.NAMESPACE.NAME, so two triggers never
	// share offsets by accident.
	ConsumerGroup string `json:"consumerGroup,omitempty"`
	// InitialOffset is where a new consumer group starts: "latest" (the
	// default, as in Knative) or "earliest".
	InitialOffset string     `json:"initialOffset,omitempty"`
	SASL          *KafkaSASL `json:"sasl,omitempty"`
	TLS           *KafkaTLS  `json:"tls,omitempty"`
}

// Initial offsets of a new consumer group.
const (
	OffsetLatest   = "latest"
	OffsetEarliest = "earliest"
)

// KafkaSASL authenticates to the brokers. A password is never written in
// a manifest: manifests end up in version control, the store and `wake
// get` output. It is read from a file (embedded mode) or a Kubernetes
// secret (Kubernetes mode), and exactly one of those is set. The mechanism
// and user may be literal or, as Knative's KafkaSource writes them, come
// from a secret.
type KafkaSASL struct {
	// Mechanism is PLAIN (the default), SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism       string             `json:"mechanism,omitempty"`
	MechanismSecret *SecretKeySelector `json:"mechanismSecret,omitempty"`
	User            string             `json:"user,omitempty"`
	UserSecret      *SecretKeySelector `json:"userSecret,omitempty"`
	// PasswordFile is read when the consumer connects (trailing newline
	// dropped), so rotating it needs no re-apply.
	PasswordFile   string             `json:"passwordFile,omitempty"`
	PasswordSecret *SecretKeySelector `json:"passwordSecret,omitempty"`
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// KafkaTLS encrypts the connection to the brokers. Files are for embedded
// mode, secrets for Kubernetes mode; a client certificate and its key come
// together.
type KafkaTLS struct {
	Enable             bool               `json:"enable,omitempty"`
	CAFile             string             `json:"caFile,omitempty"`
	CertFile           string             `json:"certFile,omitempty"`
	KeyFile            string             `json:"keyFile,omitempty"`
	CACertSecret       *SecretKeySelector `json:"caCertSecret,omitempty"`
	CertSecret         *SecretKeySelector `json:"certSecret,omitempty"`
	KeySecret          *SecretKeySelector `json:"keySecret,omitempty"`
	InsecureSkipVerify bool               `json:"insecureSkipVerify,omitempty"`
}

// SecretKeySelector is one key of a Kubernetes secret in the trigger's
// namespace, as in core/v1.
type SecretKeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// CronTrigger fires on a schedule, with a fixed payload; Knative's
// PingSource.
type CronTrigger struct {
	// Schedule is cron syntax with an optional seconds field first
	// ("*/10 * * * * *"), or a descriptor (@hourly, @every 90s); see
	// ParseSchedule.
	Schedule string `json:"schedule"`
	// Timezone is an IANA name (Europe/Paris); default UTC.
	Timezone string `json:"timezone,omitempty"`
	// Data or DataBase64 (not both) is the event's payload.
	Data        string `json:"data,omitempty"`
	DataBase64  string `json:"dataBase64,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	// MisfirePolicy says what happens to firings missed while wake was
	// down: "skip" them (the default) or "fireOnce" for all of them.
	MisfirePolicy string `json:"misfirePolicy,omitempty"`
	// ConcurrencyPolicy says whether a firing may start while the last
	// one's delivery is still going: "allow" (the default) or "forbid"
	// (the new one is skipped).
	ConcurrencyPolicy string `json:"concurrencyPolicy,omitempty"`
}

// Cron policies.
const (
	MisfireSkip       = "skip"
	MisfireFireOnce   = "fireOnce"
	ConcurrencyAllow  = "allow"
	ConcurrencyForbid = "forbid"
)

// Sink is where events are delivered: a function of the trigger's
// namespace (through the router, optionally to a tagged revision) or any
// URI. Exactly one of Function and URI is set.
type Sink struct {
	Function string `json:"function,omitempty"`
	Tag      string `json:"tag,omitempty"`
	URI      string `json:"uri,omitempty"`
}

// DeliverySpec is Knative's eventing DeliverySpec, with wake's sinks.
// Durations are ISO-8601 ("PT0.5S", "PT1M"); see ParseISODuration.
type DeliverySpec struct {
	DeadLetterSink *DeadLetterSink `json:"deadLetterSink,omitempty"`
	// Retry is how many times a failed delivery is retried; nil is 0.
	Retry *int32 `json:"retry,omitempty"`
	// BackoffPolicy is "exponential" (the default: delay × 2^n) or
	// "linear" (delay × n).
	BackoffPolicy string `json:"backoffPolicy,omitempty"`
	BackoffDelay  string `json:"backoffDelay,omitempty"`
	// Timeout bounds each attempt.
	Timeout string `json:"timeout,omitempty"`
	// RetryAfterMax caps how long a Retry-After header may delay a retry.
	RetryAfterMax string `json:"retryAfterMax,omitempty"`
}

// Backoff policies.
const (
	BackoffExponential = "exponential"
	BackoffLinear      = "linear"
)

// DeadLetterSink receives events whose delivery failed for good: a sink,
// or (for Kafka triggers) a topic of the trigger's cluster. Exactly one of
// Function, URI and KafkaTopic is set.
type DeadLetterSink struct {
	Sink       `json:",inline"`
	KafkaTopic string `json:"kafkaTopic,omitempty"`
}

// CloudEventOverrides are extension attributes added to every event.
type CloudEventOverrides struct {
	Extensions map[string]string `json:"extensions,omitempty"`
}

// TriggerStatus is what wake observed, Knative style. The counters and
// the lag are live: they describe the trigger since this server started
// running it, and are not stored.
type TriggerStatus struct {
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	Conditions         []Condition `json:"conditions,omitempty"`
	// SinkURI is the resolved address events are sent to.
	SinkURI string `json:"sinkUri,omitempty"`
	// LastFireTime and NextFireTime are for cron triggers.
	LastFireTime *metav1.Time `json:"lastFireTime,omitempty"`
	NextFireTime *metav1.Time `json:"nextFireTime,omitempty"`
	// Delivered, DeadLettered and Failed count events by how their
	// delivery ended; Retried counts retry attempts. Failed Kafka events
	// are redelivered, so they may later count as delivered too.
	Delivered    int64 `json:"delivered,omitempty"`
	DeadLettered int64 `json:"deadLettered,omitempty"`
	Failed       int64 `json:"failed,omitempty"`
	Retried      int64 `json:"retried,omitempty"`
	// Skipped counts cron fires left out by the misfire or concurrency
	// policy.
	Skipped int64 `json:"skipped,omitempty"`
	// RateLimit is the limit in force (events per second), absent when
	// none.
	RateLimit *float64 `json:"rateLimit,omitempty"`
	// Throttled counts attempts the sink refused for load (429, or 503
	// with Retry-After): a Kafka trigger sends them again, paced, and
	// they count against no retry policy.
	Throttled int64 `json:"throttled,omitempty"`
	// Pace is set while a Kafka trigger delivers slower than its limit
	// because of what the sink answered.
	Pace *TriggerPace `json:"pace,omitempty"`
	// Lag is, for a Kafka trigger, how many records each assigned
	// partition is behind its high watermark.
	Lag []PartitionLag `json:"lag,omitempty"`
}

// TriggerPace is the rate wake chose for a trigger below its limit, and
// why.
type TriggerPace struct {
	// RateInForce is in events per second.
	RateInForce float64 `json:"rateInForce"`
	// Reason is what the sink answered that set it.
	Reason string       `json:"reason,omitempty"`
	Since  *metav1.Time `json:"since,omitempty"`
	// PausedUntil is set while every delivery waits out a Retry-After.
	PausedUntil *metav1.Time `json:"pausedUntil,omitempty"`
}

// PartitionLag is one partition's consumer lag.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Lag       int64  `json:"lag"`
}

// DeepCopy returns a copy of t sharing nothing with it.
func (t *Trigger) DeepCopy() *Trigger { return deepCopy(t) }

// SetDefaults fills in what a trigger manifest may leave out. It is
// idempotent.
func (t *Trigger) SetDefaults() {
	if t.Namespace == "" {
		t.Namespace = DefaultNamespace
	}
	if k := t.Spec.Kafka; k != nil {
		if k.ConsumerGroup == "" {
			k.ConsumerGroup = "wake." + t.Namespace + "." + t.Name
		}
		if k.InitialOffset == "" {
			k.InitialOffset = OffsetLatest
		}
		if s := k.SASL; s != nil && s.Mechanism == "" && s.MechanismSecret == nil {
			s.Mechanism = SASLPlain
		}
		if t.Spec.Ordering == "" {
			t.Spec.Ordering = OrderingPartition
		}
	}
	if c := t.Spec.Cron; c != nil {
		if c.MisfirePolicy == "" {
			c.MisfirePolicy = MisfireSkip
		}
		if c.ConcurrencyPolicy == "" {
			c.ConcurrencyPolicy = ConcurrencyAllow
		}
	}
	if d := t.Spec.Delivery; d != nil && d.BackoffPolicy == "" {
		d.BackoffPolicy = BackoffExponential
	}
}
