package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
	"github.com/wakefn/wake/eventing/pace"
)

// Deliver sends one event to the trigger's sink with the trigger's retry
// policy (a *delivery.Deliverer wrapped by the caller) and reports how it
// ended. It is called from several goroutines at once (one per partition,
// and one per key with OrderingKey). Delivered and DeadLettered complete the
// record; Failed sends it to DeadLetterTopic if there is one; any other
// result (Failed with no dead-letter topic, Cancelled while the partition is
// still owned, a zero Result) is delivered again after a backoff. ctx ends
// when the partition is revoked or Run returns, after RebalanceGrace.
type Deliver func(ctx context.Context, e event.Event) delivery.Result

// Defaults of the Config fields whose zero value means "the default".
const (
	// DefaultRebalanceGrace is how long in-flight deliveries of a revoked
	// partition (or of every partition at shutdown) may run before they are
	// cancelled. It is well under kgo's default rebalance timeout (60s), so
	// a slow sink cannot get this member kicked out of the group.
	DefaultRebalanceGrace = 10 * time.Second
	// DefaultRedeliveryBackoff is the first wait before a Failed record is
	// delivered again; each further failure doubles it up to
	// DefaultMaxRedeliveryBackoff.
	DefaultRedeliveryBackoff    = time.Second
	DefaultMaxRedeliveryBackoff = 30 * time.Second
	// DefaultCommitInterval is how often delivered offsets are committed
	// while the partition is owned. Revoke and shutdown always commit too,
	// so a longer interval only widens the window of duplicates after a
	// crash.
	DefaultCommitInterval = time.Second
	// DefaultMaxInFlightPerPartition bounds parallel deliveries of one
	// partition with OrderingKey.
	DefaultMaxInFlightPerPartition = 64
	// DefaultMaxBufferedPerPartition is how many records of one partition
	// may be fetched but not yet committable (queued, in flight, or done
	// after an undelivered one) before fetching that partition pauses. It
	// bounds memory when a partition is stuck redelivering.
	DefaultMaxBufferedPerPartition = 1000
)

// Config is one Kafka trigger's consumer. Zero values of optional fields
// mean the documented default.
type Config struct {
	// Trigger is "namespace/name": for logs, metric labels and the event
	// source. Required.
	Trigger string
	// Brokers are host:port addresses of bootstrap brokers. Required.
	Brokers []string
	// Topics are consumed as one consumer group. Required.
	Topics []string
	// Group is the consumer group. Required.
	Group string
	// InitialOffset is where a group with no committed offset starts:
	// api.OffsetLatest ("" means latest, as in Knative) or
	// api.OffsetEarliest.
	InitialOffset string
	// SASL authenticates to the brokers; nil means none. The password file
	// is read each time a connection is made (trailing newline dropped),
	// so rotating it needs no restart. Secret references are for
	// Kubernetes mode and are refused here.
	SASL *api.KafkaSASL
	// TLS encrypts connections; nil, or Enable false with no files, means
	// plaintext. Secret references are refused as for SASL.
	TLS *api.KafkaTLS
	// Ordering is api.OrderingPartition ("" means partition: one delivery
	// in flight per partition, in offset order) or api.OrderingKey (one at
	// a time per record key, keys of a partition in parallel).
	Ordering string
	// Deliver sends one event. Required.
	Deliver Deliver
	// DeadLetterTopic receives, on the trigger's cluster, the records whose
	// delivery ended Failed; "" means none, and a Failed record is
	// redelivered after a backoff instead.
	DeadLetterTopic string
	// Sink is written as knativeerrordest on dead-letter records (the
	// address the events were sent to); "" means the trigger name.
	Sink string
	// RateLimit caps deliveries over the whole trigger, in events per
	// second; 0 means unlimited. See Consumer.SetRateLimit.
	RateLimit float64
	// Pacer paces the deliveries: RateLimit, and the rate learned from
	// the sink when the Deliver func reports its answers to it. nil means
	// a pacer of RateLimit alone.
	Pacer *pace.Pacer
	// RebalanceGrace: 0 means DefaultRebalanceGrace.
	RebalanceGrace time.Duration
	// RedeliveryBackoff and MaxRedeliveryBackoff: 0 means
	// DefaultRedeliveryBackoff and DefaultMaxRedeliveryBackoff.
	RedeliveryBackoff    time.Duration
	MaxRedeliveryBackoff time.Duration
	// CommitInterval: 0 means DefaultCommitInterval.
	CommitInterval time.Duration
	// MaxInFlightPerPartition (OrderingKey only): 0 means
	// DefaultMaxInFlightPerPartition.
	MaxInFlightPerPartition int
	// MaxBufferedPerPartition: 0 means DefaultMaxBufferedPerPartition.
	MaxBufferedPerPartition int
	// Registerer gets the wake_trigger_kafka_lag gauge; nil means no
	// metrics. Consumers may share one registry.
	Registerer prometheus.Registerer
	// Logger: nil means no logs.
	Logger *zap.Logger

	// clientOpts are appended to the kgo options; tests use them to make
	// rebalances fast.
	clientOpts []kgo.Opt
}

// errSecrets is the one error for secret references in embedded mode.
var errSecrets = errors.New("secrets need Kubernetes mode")

// withDefaults returns cfg with defaults filled in, or the first invalid
// field.
func (cfg Config) withDefaults() (Config, error) {
	ns, name, ok := strings.Cut(cfg.Trigger, "/")
	switch {
	case !ok || ns == "" || name == "" || strings.Contains(name, "/"):
		return cfg, fmt.Errorf("kafka: trigger = %q, must be namespace/name", cfg.Trigger)
	case len(cfg.Brokers) == 0:
		return cfg, errors.New("kafka: brokers: required")
	case len(cfg.Topics) == 0:
		return cfg, errors.New("kafka: topics: required")
	case cfg.Group == "":
		return cfg, errors.New("kafka: group: required")
	case cfg.Deliver == nil:
		return cfg, errors.New("kafka: deliver: required")
	case cfg.RateLimit < 0:
		return cfg, fmt.Errorf("kafka: rateLimit = %v, must be >= 0", cfg.RateLimit)
	case cfg.RebalanceGrace < 0, cfg.RedeliveryBackoff < 0, cfg.MaxRedeliveryBackoff < 0, cfg.CommitInterval < 0:
		return cfg, errors.New("kafka: durations must be >= 0")
	case cfg.MaxInFlightPerPartition < 0 || cfg.MaxBufferedPerPartition < 0:
		return cfg, errors.New("kafka: per-partition limits must be >= 0")
	}
	for i, t := range cfg.Topics {
		if t == "" {
			return cfg, fmt.Errorf("kafka: topics[%d]: empty", i)
		}
		if t == cfg.DeadLetterTopic {
			return cfg, fmt.Errorf("kafka: deadLetterTopic = %q, must not be a consumed topic", t)
		}
	}
	if cfg.Pacer == nil {
		cfg.Pacer = pace.New(cfg.RateLimit, nil)
	}
	switch cfg.InitialOffset {
	case "":
		cfg.InitialOffset = api.OffsetLatest
	case api.OffsetLatest, api.OffsetEarliest:
	default:
		return cfg, fmt.Errorf("kafka: initialOffset = %q, must be %q or %q", cfg.InitialOffset, api.OffsetLatest, api.OffsetEarliest)
	}
	switch cfg.Ordering {
	case "":
		cfg.Ordering = api.OrderingPartition
	case api.OrderingPartition, api.OrderingKey:
	default:
		return cfg, fmt.Errorf("kafka: ordering = %q, must be %q or %q", cfg.Ordering, api.OrderingPartition, api.OrderingKey)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RebalanceGrace, DefaultRebalanceGrace)
	def(&cfg.RedeliveryBackoff, DefaultRedeliveryBackoff)
	def(&cfg.MaxRedeliveryBackoff, DefaultMaxRedeliveryBackoff)
	def(&cfg.CommitInterval, DefaultCommitInterval)
	if cfg.MaxRedeliveryBackoff < cfg.RedeliveryBackoff {
		cfg.MaxRedeliveryBackoff = cfg.RedeliveryBackoff
	}
	if cfg.MaxInFlightPerPartition == 0 {
		cfg.MaxInFlightPerPartition = DefaultMaxInFlightPerPartition
	}
	if cfg.Ordering == api.OrderingPartition {
		cfg.MaxInFlightPerPartition = 1
	}
	if cfg.MaxBufferedPerPartition == 0 {
		cfg.MaxBufferedPerPartition = DefaultMaxBufferedPerPartition
	}
	if cfg.Sink == "" {
		cfg.Sink = cfg.Trigger
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg, nil
}

// securityOpts turns SASL and TLS into kgo options.
func (cfg Config) securityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s := cfg.SASL; s != nil {
		m, err := saslMechanism(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	if t := cfg.TLS; t != nil {
		tc, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		if tc != nil {
			opts = append(opts, kgo.DialTLSConfig(tc))
		}
	}
	return opts, nil
}

func saslMechanism(s *api.KafkaSASL) (sasl.Mechanism, error) {
	switch {
	case s.MechanismSecret != nil:
		return nil, fmt.Errorf("kafka: sasl.mechanismSecret: %w", errSecrets)
	case s.UserSecret != nil:
		return nil, fmt.Errorf("kafka: sasl.userSecret: %w", errSecrets)
	case s.PasswordSecret != nil:
		return nil, fmt.Errorf("kafka: sasl.passwordSecret: %w", errSecrets)
	case s.User == "":
		return nil, errors.New("kafka: sasl.user: required")
	case s.PasswordFile == "":
		return nil, errors.New("kafka: sasl.passwordFile: required")
	}
	if _, err := readPassword(s.PasswordFile); err != nil {
		return nil, fmt.Errorf("kafka: sasl.passwordFile: %w", err)
	}
	user, file := s.User, s.PasswordFile
	switch s.Mechanism {
	case "", api.SASLPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			pass, err := readPassword(file)
			return plain.Auth{User: user, Pass: pass}, err
		}), nil
	case api.SASLSCRAMSHA256, api.SASLSCRAMSHA512:
		auth := func(context.Context) (scram.Auth, error) {
			pass, err := readPassword(file)
			return scram.Auth{User: user, Pass: pass}, err
		}
		if s.Mechanism == api.SASLSCRAMSHA256 {
			return scram.Sha256(auth), nil
		}
		return scram.Sha512(auth), nil
	}
	return nil, fmt.Errorf("kafka: sasl.mechanism = %q, must be %s, %s or %s", s.Mechanism, api.SASLPlain, api.SASLSCRAMSHA256, api.SASLSCRAMSHA512)
}

// readPassword reads a password file, dropping one trailing newline (and
// a carriage return before it).
func readPassword(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// tlsConfig returns nil for a TLS block that asks for nothing.
func tlsConfig(t *api.KafkaTLS) (*tls.Config, error) {
	switch {
	case t.CACertSecret != nil:
		return nil, fmt.Errorf("kafka: tls.caCertSecret: %w", errSecrets)
	case t.CertSecret != nil:
		return nil, fmt.Errorf("kafka: tls.certSecret: %w", errSecrets)
	case t.KeySecret != nil:
		return nil, fmt.Errorf("kafka: tls.keySecret: %w", errSecrets)
	case (t.CertFile == "") != (t.KeyFile == ""):
		return nil, errors.New("kafka: tls.certFile and tls.keyFile: set both or neither")
	}
	if !t.Enable && t.CAFile == "" && t.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user asked for it
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: tls.caFile: no PEM certificate in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: tls.certFile/keyFile: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
