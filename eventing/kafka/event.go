package kafka

import (
	"encoding/base64"
	"mime"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EventType is the type of every event built from a record, as Knative's
// KafkaSource sends it.
const EventType = "dev.knative.kafka.event"

// ExtKey is the extension attribute holding the record key.
const ExtKey = "key"

// maxExtensionName is CloudEvents' limit on extension attribute names.
const maxExtensionName = 20

// eventSource is Knative KafkaSource's source attribute without the topic.
func eventSource(trigger string) string {
	ns, name := splitTrigger(trigger)
	return "/apis/v1/namespaces/" + ns + "/kafkasources/" + name + "#"
}

// eventID is the event's id: stable across retries, redeliveries and
// restarts, so a sink can deduplicate.
func eventID(r *kgo.Record) string {
	return r.Topic + "/" + strconv.FormatInt(int64(r.Partition), 10) + "/" + strconv.FormatInt(r.Offset, 10)
}

// toEvent builds the CloudEvent for a record. sourcePrefix is
// eventSource(trigger).
//
//   - data is the record value, with datacontenttype from a content-type
//     header when there is one and it parses as a media type;
//   - the key (when the record has one) is the extension "key": the key
//     bytes as a string when they are valid UTF-8 with only printable
//     characters, otherwise their standard base64;
//   - a header becomes an extension when its name is a valid CloudEvents
//     extension name (a-z and 0-9, at most 20 characters) and not a
//     context attribute (id, source, ...) or "key"; its value is encoded
//     like the key. Other headers are dropped from the event (they stay on
//     the record, and on a dead-letter record). When a name repeats, the
//     last value wins.
func toEvent(r *kgo.Record, sourcePrefix string) event.Event {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(eventID(r))
	e.SetSource(sourcePrefix + r.Topic)
	e.SetType(EventType)
	e.SetSubject("partition:" + strconv.FormatInt(int64(r.Partition), 10) + "#" + strconv.FormatInt(r.Offset, 10))
	if !r.Timestamp.IsZero() && r.Timestamp.UnixMilli() > 0 {
		e.SetTime(r.Timestamp)
	}
	contentType := ""
	for _, h := range r.Headers {
		if h.Key == "content-type" {
			// An unparsable media type would make the event invalid,
			// and so undeliverable: it is dropped instead.
			if _, _, err := mime.ParseMediaType(string(h.Value)); err == nil {
				contentType = string(h.Value)
			}
			continue
		}
		if validExtensionName(h.Key) && !reserved[h.Key] {
			e.SetExtension(h.Key, printableOrBase64(h.Value))
		}
	}
	if r.Key != nil {
		e.SetExtension(ExtKey, printableOrBase64(r.Key))
	}
	if r.Value != nil {
		_ = e.SetData(contentType, r.Value)
	} else if contentType != "" {
		e.SetDataContentType(contentType)
	}
	return e
}

// reserved are names a header may not set: CloudEvents context attributes
// and the extension this package sets itself.
var reserved = map[string]bool{
	"id": true, "source": true, "specversion": true, "type": true, "subject": true,
	"time": true, "datacontenttype": true, "dataschema": true, "data": true,
	"data_base64": true, ExtKey: true,
}

func validExtensionName(s string) bool {
	if s == "" || len(s) > maxExtensionName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// printableOrBase64 is b as a string when it is valid UTF-8 made of
// printable characters (spaces included), else b in standard base64.
func printableOrBase64(b []byte) string {
	if utf8.Valid(b) {
		ok := true
		for _, r := range string(b) {
			if !unicode.IsPrint(r) {
				ok = false
				break
			}
		}
		if ok {
			return string(b)
		}
	}
	return base64.StdEncoding.EncodeToString(b)
}
