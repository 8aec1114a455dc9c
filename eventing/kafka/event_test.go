package kafka

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestToEvent(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		rec      *kgo.Record
		wantExt  map[string]any
		wantCT   string
		wantData string
	}{{
		name: "value, printable key, content type, headers",
		rec: &kgo.Record{Topic: "orders", Partition: 2, Offset: 41, Timestamp: ts, Key: []byte("user 7"), Value: []byte(`{"a":1}`),
			Headers: []kgo.RecordHeader{
				{Key: "content-type", Value: []byte("application/json")},
				{Key: "traceparent", Value: []byte("00-abc-01")},
				{Key: "Upper", Value: []byte("dropped: not lowercase")},
				{Key: "x-dash", Value: []byte("dropped: dash")},
				{Key: "averyveryverylongname1", Value: []byte("dropped: over 20")},
				{Key: "id", Value: []byte("dropped: a context attribute")},
				{Key: "key", Value: []byte("dropped: the key's")},
				{Key: "bin", Value: []byte{0xff, 0x00}},
			}},
		wantExt:  map[string]any{"key": "user 7", "traceparent": "00-abc-01", "bin": "/wA="},
		wantCT:   "application/json",
		wantData: `{"a":1}`,
	}, {
		name:     "binary key is base64",
		rec:      &kgo.Record{Topic: "orders", Partition: 2, Offset: 41, Timestamp: ts, Key: []byte{0x01, 0x02}, Value: []byte("x")},
		wantExt:  map[string]any{"key": "AQI="},
		wantData: "x",
	}, {
		name:     "no key, no value (tombstone)",
		rec:      &kgo.Record{Topic: "orders", Partition: 2, Offset: 41, Timestamp: ts},
		wantExt:  map[string]any{},
		wantData: "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := toEvent(tt.rec, eventSource("prod/payments"))
			if err := e.Validate(); err != nil {
				t.Fatalf("invalid event: %v", err)
			}
			got := map[string]any{"id": e.ID(), "source": e.Source(), "type": e.Type(), "subject": e.Subject(), "time": e.Time()}
			want := map[string]any{"id": "orders/2/41", "source": "/apis/v1/namespaces/prod/kafkasources/payments#orders",
				"type": "dev.knative.kafka.event", "subject": "partition:2#41", "time": ts}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("attributes (-want +got):\n%s", d)
			}
			ext := e.Extensions()
			if ext == nil {
				ext = map[string]any{}
			}
			if d := cmp.Diff(tt.wantExt, ext); d != "" {
				t.Errorf("extensions (-want +got):\n%s", d)
			}
			if e.DataContentType() != tt.wantCT {
				t.Errorf("datacontenttype %q, want %q", e.DataContentType(), tt.wantCT)
			}
			if string(e.Data()) != tt.wantData {
				t.Errorf("data %q, want %q", e.Data(), tt.wantData)
			}
		})
	}
}

// FuzzToEvent: whatever a producer puts in a record, the event is valid
// and nothing panics.
func FuzzToEvent(f *testing.F) {
	f.Add("t", []byte("k"), []byte("v"), "h", []byte("hv"))
	f.Add("t", []byte{0xff}, []byte(nil), "content-type", []byte{0xfe})
	f.Fuzz(func(t *testing.T, topic string, key, value []byte, hk string, hv []byte) {
		if !validTopic(topic) {
			topic = "t"
		}
		r := &kgo.Record{Topic: topic, Key: key, Value: value, Offset: 1, Timestamp: time.Unix(1, 0),
			Headers: []kgo.RecordHeader{{Key: hk, Value: hv}}}
		e := toEvent(r, eventSource("a/b"))
		if err := e.Validate(); err != nil {
			t.Fatalf("invalid event for %q/%q: %v", hk, hv, err)
		}
	})
}

// validTopic is Kafka's rule for topic names.
func validTopic(s string) bool {
	if s == "" || len(s) > 249 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
