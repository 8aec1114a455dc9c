package v1

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"mime"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// cronParser is the one cron dialect of wake: an optional seconds field
// first, then Unix cron's five, or a descriptor (@daily, @every 90s). A
// TZ= or CRON_TZ= prefix names a time zone, as robfig/cron allows.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron trigger's schedule. It is the one parser of
// wake's cron dialect: eventing/cron's scheduler parses with it too, so
// that what validates is what runs. Beyond robfig's parser it refuses an
// @every that robfig would silently round (not whole seconds, under 1s)
// and a schedule that no date matches ("0 0 30 2 *"). A TZ= or CRON_TZ=
// prefix is skipped here; the caller owns the zone.
func ParseSchedule(schedule string) (cron.Schedule, error) {
	spec := strings.TrimSpace(schedule)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		_, spec, _ = strings.Cut(spec, " ")
		spec = strings.TrimSpace(spec)
	}
	if arg, ok := strings.CutPrefix(spec, "@every"); ok {
		arg = strings.TrimSpace(arg)
		d, err := time.ParseDuration(arg)
		if err != nil {
			return nil, fmt.Errorf("@every wants a duration such as 1h30m, got %q", arg)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("@every %s: the interval must be whole seconds, at least 1s", arg)
		}
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, err
	}
	// A spec that can match a date matches one within five years of any
	// instant (leap days recur every four), which is how far robfig looks.
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, errors.New("never fires (no date matches it)")
	}
	return s, nil
}

// Validate reports every problem in a trigger, each under the JSON path of
// the field (spec.cron.schedule). Call it after SetDefaults. Whether the
// sink function exists is the control plane's to check, not this.
func (t *Trigger) Validate() field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	if t.Name == "" {
		errs = append(errs, field.Required(meta.Child("name"), ""))
	} else {
		errs = append(errs, dns1035Label(t.Name, meta.Child("name"))...)
	}
	if t.Namespace != "" {
		errs = append(errs, dns1123Label(t.Namespace, meta.Child("namespace"))...)
	}
	errs = append(errs, validateLabels(t.Labels, meta.Child("labels"))...)
	errs = append(errs, validateAnnotations(t.Annotations, meta.Child("annotations"))...)
	errs = append(errs, t.validatePrewarm(meta.Child("annotations"))...)

	s := &t.Spec
	spec := field.NewPath("spec")
	switch {
	case s.Kafka == nil && s.Cron == nil:
		errs = append(errs, field.Required(spec, "a trigger has exactly one source, kafka or cron"))
	case s.Kafka != nil && s.Cron != nil:
		errs = append(errs, field.Forbidden(spec.Child("cron"), "must not be set with kafka: a trigger has exactly one source"))
	}
	errs = append(errs, s.Kafka.validate(spec.Child("kafka"))...)
	errs = append(errs, s.Cron.validate(spec.Child("cron"))...)
	errs = append(errs, s.Sink.validate(spec.Child("sink"))...)
	errs = append(errs, s.Delivery.validate(s.Kafka != nil, spec.Child("delivery"))...)
	if r := s.RateLimit; r != nil && (!(*r > 0) || math.IsInf(*r, 0)) {
		errs = append(errs, field.Invalid(spec.Child("rateLimit"), *r, "must be more than 0 events per second"))
	}
	switch {
	case s.Ordering == "":
	case s.Kafka == nil:
		errs = append(errs, field.Forbidden(spec.Child("ordering"), "applies to kafka triggers only"))
	case s.Ordering != OrderingPartition && s.Ordering != OrderingKey:
		errs = append(errs, field.NotSupported(spec.Child("ordering"), s.Ordering, []string{OrderingPartition, OrderingKey}))
	}
	if o := s.CEOverrides; o != nil {
		for _, k := range sortedKeys(o.Extensions) {
			if !ceAttribute.MatchString(k) {
				errs = append(errs, field.Invalid(spec.Child("ceOverrides", "extensions").Key(k), k,
					"must be a CloudEvents attribute name: 1 to 20 lower-case letters and digits"))
			}
		}
	}
	return errs
}

var (
	ceAttribute = regexp.MustCompile(`^[a-z0-9]{1,20}$`)
	// Kafka's own rule for topic names.
	kafkaTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
)

func (k *KafkaTrigger) validate(path *field.Path) field.ErrorList {
	if k == nil {
		return nil
	}
	var errs field.ErrorList
	if len(k.BootstrapServers) == 0 {
		errs = append(errs, field.Required(path.Child("bootstrapServers"), "list at least one broker as host:port"))
	}
	for i, s := range k.BootstrapServers {
		host, port, err := net.SplitHostPort(s)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			errs = append(errs, field.Invalid(path.Child("bootstrapServers").Index(i), s, "must be host:port with a port between 1 and 65535"))
		}
	}
	if len(k.Topics) == 0 {
		errs = append(errs, field.Required(path.Child("topics"), "list at least one topic"))
	}
	seen := map[string]bool{}
	for i, topic := range k.Topics {
		p := path.Child("topics").Index(i)
		switch {
		case !kafkaTopic.MatchString(topic) || topic == "." || topic == "..":
			errs = append(errs, field.Invalid(p, topic, "must be a Kafka topic name: 1 to 249 letters, digits, '.', '_' and '-'"))
		case seen[topic]:
			errs = append(errs, field.Duplicate(p, topic))
		}
		seen[topic] = true
	}
	if k.ConsumerGroup == "" {
		errs = append(errs, field.Required(path.Child("consumerGroup"), ""))
	}
	if k.InitialOffset != OffsetLatest && k.InitialOffset != OffsetEarliest {
		errs = append(errs, field.NotSupported(path.Child("initialOffset"), k.InitialOffset, []string{OffsetEarliest, OffsetLatest}))
	}
	errs = append(errs, k.SASL.validate(path.Child("sasl"))...)
	errs = append(errs, k.TLS.validate(path.Child("tls"))...)
	return errs
}

func (s *KafkaSASL) validate(path *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	var errs field.ErrorList
	switch {
	case s.Mechanism != "" && s.MechanismSecret != nil:
		errs = append(errs, field.Forbidden(path.Child("mechanismSecret"), "must not be set with mechanism"))
	case s.Mechanism == "" && s.MechanismSecret == nil:
		errs = append(errs, field.Required(path.Child("mechanism"), ""))
	case s.Mechanism != "" && s.Mechanism != SASLPlain && s.Mechanism != SASLSCRAMSHA256 && s.Mechanism != SASLSCRAMSHA512:
		errs = append(errs, field.NotSupported(path.Child("mechanism"), s.Mechanism, []string{SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512}))
	}
	switch {
	case s.User != "" && s.UserSecret != nil:
		errs = append(errs, field.Forbidden(path.Child("userSecret"), "must not be set with user"))
	case s.User == "" && s.UserSecret == nil:
		errs = append(errs, field.Required(path.Child("user"), "is required (or userSecret)"))
	}
	switch {
	case s.PasswordFile != "" && s.PasswordSecret != nil:
		errs = append(errs, field.Forbidden(path.Child("passwordSecret"), "must not be set with passwordFile"))
	case s.PasswordFile == "" && s.PasswordSecret == nil:
		errs = append(errs, field.Required(path.Child("passwordFile"),
			"is required (or passwordSecret): wake takes no password in a manifest"))
	}
	errs = append(errs, s.MechanismSecret.validate(path.Child("mechanismSecret"))...)
	errs = append(errs, s.UserSecret.validate(path.Child("userSecret"))...)
	errs = append(errs, s.PasswordSecret.validate(path.Child("passwordSecret"))...)
	return errs
}

func (t *KafkaTLS) validate(path *field.Path) field.ErrorList {
	if t == nil {
		return nil
	}
	var errs field.ErrorList
	if !t.Enable && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.CACertSecret != nil ||
		t.CertSecret != nil || t.KeySecret != nil || t.InsecureSkipVerify) {
		errs = append(errs, field.Required(path.Child("enable"), "is required to be true when other tls fields are set"))
	}
	pair := func(cert, key bool, certName, keyName string) {
		switch {
		case cert && !key:
			errs = append(errs, field.Required(path.Child(keyName), "is required with "+certName))
		case key && !cert:
			errs = append(errs, field.Required(path.Child(certName), "is required with "+keyName))
		}
	}
	pair(t.CertFile != "", t.KeyFile != "", "certFile", "keyFile")
	pair(t.CertSecret != nil, t.KeySecret != nil, "certSecret", "keySecret")
	errs = append(errs, t.CACertSecret.validate(path.Child("caCertSecret"))...)
	errs = append(errs, t.CertSecret.validate(path.Child("certSecret"))...)
	errs = append(errs, t.KeySecret.validate(path.Child("keySecret"))...)
	return errs
}

func (s *SecretKeySelector) validate(path *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	} else if len(validation.IsDNS1123Subdomain(s.Name)) > 0 {
		errs = append(errs, field.Invalid(path.Child("name"), s.Name, "must be a secret name: lower-case letters, digits, '-' and '.'"))
	}
	if s.Key == "" {
		errs = append(errs, field.Required(path.Child("key"), ""))
	} else if len(validation.IsConfigMapKey(s.Key)) > 0 {
		errs = append(errs, field.Invalid(path.Child("key"), s.Key, "must be a secret key: letters, digits, '-', '_' and '.'"))
	}
	return errs
}

func (c *CronTrigger) validate(path *field.Path) field.ErrorList {
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	if c.Schedule == "" {
		errs = append(errs, field.Required(path.Child("schedule"), `a cron schedule such as "*/5 * * * *"`))
	} else if _, err := ParseSchedule(c.Schedule); err != nil {
		errs = append(errs, field.Invalid(path.Child("schedule"), c.Schedule,
			"must be a cron schedule ([seconds] minute hour day-of-month month day-of-week, or a descriptor such as @hourly): "+err.Error()))
	} else if c.Timezone != "" && (strings.HasPrefix(c.Schedule, "TZ=") || strings.HasPrefix(c.Schedule, "CRON_TZ=")) {
		errs = append(errs, field.Forbidden(path.Child("timezone"), "must not be set when the schedule names a time zone (TZ=...)"))
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "Local" {
			errs = append(errs, field.Invalid(path.Child("timezone"), c.Timezone, "must be an IANA time zone such as Europe/Paris or UTC"))
		}
	}
	if c.Data != "" && c.DataBase64 != "" {
		errs = append(errs, field.Forbidden(path.Child("dataBase64"), "must not be set with data"))
	}
	if c.DataBase64 != "" {
		if _, err := base64.StdEncoding.DecodeString(c.DataBase64); err != nil {
			errs = append(errs, field.Invalid(path.Child("dataBase64"), field.OmitValueType{}, "must be standard base64 ("+err.Error()+")"))
		}
	}
	if c.ContentType != "" {
		if _, _, err := mime.ParseMediaType(c.ContentType); err != nil {
			errs = append(errs, field.Invalid(path.Child("contentType"), c.ContentType, "must be a media type such as application/json"))
		}
	}
	if c.MisfirePolicy != MisfireSkip && c.MisfirePolicy != MisfireFireOnce {
		errs = append(errs, field.NotSupported(path.Child("misfirePolicy"), c.MisfirePolicy, []string{MisfireSkip, MisfireFireOnce}))
	}
	if c.ConcurrencyPolicy != ConcurrencyAllow && c.ConcurrencyPolicy != ConcurrencyForbid {
		errs = append(errs, field.NotSupported(path.Child("concurrencyPolicy"), c.ConcurrencyPolicy, []string{ConcurrencyAllow, ConcurrencyForbid}))
	}
	return errs
}

// validate checks a sink; extra is a third kind of target (a dead
// letter's kafkaTopic) that counts as set.
func (s *Sink) validate(path *field.Path) field.ErrorList { return s.validateWith(path, "", false) }

func (s *Sink) validateWith(path *field.Path, extraName string, extra bool) field.ErrorList {
	var errs field.ErrorList
	set := 0
	for _, b := range []bool{s.Function != "", s.URI != "", extra} {
		if b {
			set++
		}
	}
	names := "function or uri"
	if extraName != "" {
		names = "function, uri or " + extraName
	}
	switch {
	case set == 0:
		errs = append(errs, field.Required(path, "set one of "+names))
	case set > 1:
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, "must set exactly one of "+names))
	}
	if s.Function != "" {
		errs = append(errs, dns1035Label(s.Function, path.Child("function"))...)
	}
	if s.Tag != "" {
		if s.Function == "" {
			errs = append(errs, field.Forbidden(path.Child("tag"), "applies to a function sink only"))
		}
		errs = append(errs, dns1035Label(s.Tag, path.Child("tag"))...)
	}
	if s.URI != "" {
		u, err := url.Parse(s.URI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, field.Invalid(path.Child("uri"), s.URI, "must be an absolute http or https URL"))
		}
	}
	return errs
}

func (d *DeliverySpec) validate(kafka bool, path *field.Path) field.ErrorList {
	if d == nil {
		return nil
	}
	var errs field.ErrorList
	if dl := d.DeadLetterSink; dl != nil {
		p := path.Child("deadLetterSink")
		errs = append(errs, dl.Sink.validateWith(p, "kafkaTopic", dl.KafkaTopic != "")...)
		if dl.KafkaTopic != "" {
			if !kafka {
				errs = append(errs, field.Forbidden(p.Child("kafkaTopic"), "applies to kafka triggers only: the topic is on the trigger's brokers"))
			} else if !kafkaTopic.MatchString(dl.KafkaTopic) {
				errs = append(errs, field.Invalid(p.Child("kafkaTopic"), dl.KafkaTopic, "must be a Kafka topic name: 1 to 249 letters, digits, '.', '_' and '-'"))
			}
		}
	}
	if d.Retry != nil && *d.Retry < 0 {
		errs = append(errs, field.Invalid(path.Child("retry"), *d.Retry, "must be 0 or more"))
	}
	if d.BackoffPolicy != BackoffExponential && d.BackoffPolicy != BackoffLinear {
		errs = append(errs, field.NotSupported(path.Child("backoffPolicy"), d.BackoffPolicy, []string{BackoffExponential, BackoffLinear}))
	}
	for _, f := range []struct{ name, v string }{
		{"backoffDelay", d.BackoffDelay}, {"timeout", d.Timeout}, {"retryAfterMax", d.RetryAfterMax},
	} {
		if f.v == "" {
			continue
		}
		if _, err := ParseISODuration(f.v); err != nil {
			errs = append(errs, field.Invalid(path.Child(f.name), f.v, "must be an ISO-8601 duration such as PT0.5S or PT1M30S ("+err.Error()+")"))
		}
	}
	return errs
}
