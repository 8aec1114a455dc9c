package runtime

import "time"

// MergeByTime interleaves sources of log lines by time, as `wake logs`
// shows several instances or revisions: each source's lines keep their
// own order, even where its clock went back between two of them, and a
// tie goes to the source listed first. Linear in the lines times the
// sources, which are few (a revision's instances, a function's revisions).
func MergeByTime[L any](per [][]L, at func(L) time.Time) []L {
	total := 0
	for _, ls := range per {
		total += len(ls)
	}
	out := make([]L, 0, total)
	next := make([]int, len(per))
	for len(out) < total {
		best := -1
		for i, ls := range per {
			if next[i] < len(ls) && (best < 0 || at(ls[next[i]]).Before(at(per[best][next[best]]))) {
				best = i
			}
		}
		out = append(out, per[best][next[best]])
		next[best]++
	}
	return out
}
