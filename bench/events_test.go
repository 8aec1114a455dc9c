package main

import (
	"math"
	"testing"
)

func TestEventsRows(t *testing.T) {
	samples := map[string][]eventsSample{
		// 10,000 events: 2 s, 1 s and 4 s, so the median is 2 s (5,000/s).
		"wake": {
			{seconds: 2, first: 0.1, wakeCPU: 1.0, fnCPU: 0.5},
			{seconds: 1, first: 0.3, wakeCPU: 2.0, fnCPU: 0.6, errors: 1},
			{seconds: 4, first: 0.2, wakeCPU: 1.5, fnCPU: 0.4},
		},
		"bare": {
			{seconds: 1, first: 0.05, wakeCPU: 0.01, consumerCPU: 0.5, fnCPU: 0.4},
		},
	}
	res := eventsRows(samples, 10_000)
	wake, bare := findEventsRow(res.Rows, "wake"), findEventsRow(res.Rows, "bare")
	tests := []struct {
		name      string
		got, want float64
	}{
		{"wake events/s", wake.EventsPS, 5000},
		{"wake first ms", wake.FirstMs, 200},
		{"wake serve CPU per 1k", wake.WakeCPU1k, 0.15},
		{"wake errors summed", float64(wake.Errors), 1},
		{"bare events/s", bare.EventsPS, 10000},
		{"bare consumer CPU per 1k", bare.ConsumerCPU1k, 0.05},
		{"wake consumer CPU not reported", wake.ConsumerCPU1k, 0},
		{"ratio wake/bare", res.RatioWakeBare, 0.5},
		{"delivery CPU less the broker", res.DeliveryCPU1k, 0.149},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
