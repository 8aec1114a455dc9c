package kafka

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
)

func validConfig() Config {
	return Config{
		Trigger: "ns/name", Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, Group: "g",
		Deliver: func(context.Context, event.Event) delivery.Result { return delivery.Result{} },
	}
}

func TestNewNamesTheBadField(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := &api.SecretKeySelector{Name: "s", Key: "k"}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" means no error
	}{
		{"valid", func(*Config) {}, ""},
		{"trigger without namespace", func(c *Config) { c.Trigger = "name" }, `trigger = "name", must be namespace/name`},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers: required"},
		{"no topics", func(c *Config) { c.Topics = nil }, "topics: required"},
		{"empty topic", func(c *Config) { c.Topics = []string{"a", ""} }, "topics[1]: empty"},
		{"no group", func(c *Config) { c.Group = "" }, "group: required"},
		{"no deliver", func(c *Config) { c.Deliver = nil }, "deliver: required"},
		{"bad offset", func(c *Config) { c.InitialOffset = "middle" }, `initialOffset = "middle"`},
		{"bad ordering", func(c *Config) { c.Ordering = "none" }, `ordering = "none"`},
		{"negative rate", func(c *Config) { c.RateLimit = -1 }, "rateLimit = -1"},
		{"dead letters into a consumed topic", func(c *Config) { c.DeadLetterTopic = "t" }, `deadLetterTopic = "t"`},
		{"sasl password secret", func(c *Config) { c.SASL = &api.KafkaSASL{User: "u", PasswordSecret: secret} }, "sasl.passwordSecret: secrets need Kubernetes mode"},
		{"sasl user secret", func(c *Config) { c.SASL = &api.KafkaSASL{UserSecret: secret, PasswordFile: pw} }, "sasl.userSecret: secrets need Kubernetes mode"},
		{"sasl missing file", func(c *Config) { c.SASL = &api.KafkaSASL{User: "u", PasswordFile: pw + ".nope"} }, "sasl.passwordFile:"},
		{"sasl bad mechanism", func(c *Config) { c.SASL = &api.KafkaSASL{Mechanism: "GSSAPI", User: "u", PasswordFile: pw} }, `sasl.mechanism = "GSSAPI"`},
		{"sasl scram", func(c *Config) { c.SASL = &api.KafkaSASL{Mechanism: api.SASLSCRAMSHA512, User: "u", PasswordFile: pw} }, ""},
		{"tls ca secret", func(c *Config) { c.TLS = &api.KafkaTLS{Enable: true, CACertSecret: secret} }, "tls.caCertSecret: secrets need Kubernetes mode"},
		{"tls missing ca", func(c *Config) { c.TLS = &api.KafkaTLS{CAFile: pw + ".nope"} }, "tls.caFile:"},
		{"tls ca not pem", func(c *Config) { c.TLS = &api.KafkaTLS{CAFile: pw} }, "tls.caFile: no PEM certificate"},
		{"tls cert without key", func(c *Config) { c.TLS = &api.KafkaTLS{CertFile: pw} }, "tls.certFile and tls.keyFile"},
		{"tls on, system roots", func(c *Config) { c.TLS = &api.KafkaTLS{Enable: true} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.modify(&cfg)
			c, err := New(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
			if c != nil {
				c.cl.Close()
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := validConfig().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InitialOffset != api.OffsetLatest || cfg.Ordering != api.OrderingPartition ||
		cfg.RebalanceGrace != DefaultRebalanceGrace || cfg.RedeliveryBackoff != DefaultRedeliveryBackoff ||
		cfg.MaxRedeliveryBackoff != DefaultMaxRedeliveryBackoff || cfg.CommitInterval != DefaultCommitInterval ||
		cfg.MaxInFlightPerPartition != 1 || cfg.MaxBufferedPerPartition != DefaultMaxBufferedPerPartition ||
		cfg.Sink != "ns/name" {
		t.Errorf("defaults: %+v", cfg)
	}
	k := validConfig()
	k.Ordering = api.OrderingKey
	if cfg, _ := k.withDefaults(); cfg.MaxInFlightPerPartition != DefaultMaxInFlightPerPartition {
		t.Errorf("key ordering: MaxInFlightPerPartition = %d", cfg.MaxInFlightPerPartition)
	}
}

func TestReadPasswordDropsTrailingNewline(t *testing.T) {
	dir := t.TempDir()
	for in, want := range map[string]string{"pw\n": "pw", "pw\r\n": "pw", "pw": "pw", "pw\n\n": "pw\n"} {
		f := filepath.Join(dir, "f")
		if err := os.WriteFile(f, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := readPassword(f); err != nil || got != want {
			t.Errorf("readPassword(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestConsumersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		c, err := New(Config{Trigger: "ns/x", Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, Group: "g",
			Deliver: validConfig().Deliver, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		c.cl.Close()
	}
}

func TestRunTwice(t *testing.T) {
	c, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := c.Run(ctx); !errors.Is(err, ErrRunTwice) {
		t.Fatalf("second Run = %v, want ErrRunTwice", err)
	}
}
