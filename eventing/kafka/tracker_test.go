package kafka

import "testing"

func TestTracker(t *testing.T) {
	tests := []struct {
		name       string
		add        []int64
		done       []int64
		wantNext   int64
		wantPos    int64
		wantOutstd int
	}{
		{"nothing", nil, nil, -1, -1, 0},
		{"fetched, none done", []int64{5, 6}, nil, -1, 5, 2},
		{"in order", []int64{5, 6, 7}, []int64{5, 6}, 7, 7, 1},
		{"all done", []int64{5, 6, 7}, []int64{5, 6, 7}, 8, 8, 0},
		{"out of order stops at the gap", []int64{5, 6, 7, 8}, []int64{6, 8}, -1, 5, 4},
		{"gap filled", []int64{5, 6, 7, 8}, []int64{6, 8, 5}, 7, 7, 2},
		{"offsets with holes (compaction)", []int64{5, 9, 12}, []int64{12, 5, 9}, 13, 13, 0},
		{"unknown offset ignored", []int64{5}, []int64{4}, -1, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker()
			for _, o := range tt.add {
				tr.add(o, 3)
			}
			for _, o := range tt.done {
				tr.done(o)
			}
			if tr.next != tt.wantNext || tr.position() != tt.wantPos || tr.outstanding() != tt.wantOutstd {
				t.Errorf("next %d position %d outstanding %d; want %d %d %d",
					tr.next, tr.position(), tr.outstanding(), tt.wantNext, tt.wantPos, tt.wantOutstd)
			}
		})
	}
}

func TestTrackerCompacts(t *testing.T) {
	tr := newTracker()
	for o := range int64(5000) {
		tr.add(o, 0)
	}
	for o := int64(1); o < 5000; o++ {
		tr.done(o) // 0 holds the prefix back
	}
	tr.done(0)
	if tr.next != 5000 || tr.outstanding() != 0 || len(tr.entries) != 0 {
		t.Errorf("next %d outstanding %d entries %d", tr.next, tr.outstanding(), len(tr.entries))
	}
}
