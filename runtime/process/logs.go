package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/utils/clock"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// followPeriod is how often Logs with Follow looks for new output.
const followPeriod = 200 * time.Millisecond

// logStore keeps the instance logs under root/NAMESPACE/REVISION: it
// names instances, creates their logs, deletes the oldest past keep, and
// reads them back. Creating a log lists the revision's directory once
// (to prune it); nothing else touches the disk outside reads.
//
// Each line of a log starts with the time it was written (stampLayout and
// a space), so that reads can merge instances by time; reads take it off
// again unless asked for it.
type logStore struct {
	root  string
	limit int64
	keep  int
	// clock stamps lines: the wall clock, as in the kubelet's logs, even
	// where the runtime's decisions run on a fake one, since readers
	// compare the stamps with times of their own (LogOptions.Since).
	clock clock.PassiveClock

	mu    sync.Mutex
	order map[string]int64 // log path → start order, for the instances of this run
	live  map[string]bool  // log paths still written to
}

func newLogStore(root string, limit int64, keep int) *logStore {
	return &logStore{root: root, limit: limit, keep: keep, clock: clock.RealClock{}, order: map[string]int64{}, live: map[string]bool{}}
}

func (s *logStore) dir(key api.RevisionKey) string {
	return filepath.Join(s.root, key.Namespace, key.Name)
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// create names a new instance of key, "REVISION-xxxxx" with five random
// lowercase letters or digits unused by any log kept, creates its log, and
// deletes the oldest logs past keep.
func (s *logStore) create(key api.RevisionKey, seq int64) (string, *logFile, error) {
	dir := s.dir(key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 100 {
		var suffix [5]byte
		for i := range suffix {
			suffix[i] = idAlphabet[rand.IntN(len(idAlphabet))]
		}
		id := key.Name + "-" + string(suffix[:])
		path := filepath.Join(dir, id+".log")
		if _, err := os.Lstat(path + ".1"); err == nil {
			continue
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		s.order[path], s.live[path] = seq, true
		s.pruneLocked(dir)
		return id, &logFile{path: path, limit: s.limit, clock: s.clock, f: f}, nil
	}
	return "", nil, errors.New("no unused instance name found")
}

// done marks an instance's log as no longer written.
func (s *logStore) done(key api.RevisionKey, id string) {
	s.mu.Lock()
	delete(s.live, filepath.Join(s.dir(key), id+".log"))
	s.mu.Unlock()
}

// logEntry is one instance's log.
type logEntry struct {
	id    string
	path  string // of INSTANCE.log; INSTANCE.log.1 is path+".1"
	seq   int64  // start order in this run; 0 for a previous run's log
	mtime time.Time
}

// list returns dir's instance logs, oldest first: a previous run's logs by
// last write, then this run's by start.
func (s *logStore) list(dir string) []logEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked(dir)
}

func (s *logStore) listLocked(dir string) []logEntry {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	seen := map[string]*logEntry{}
	var entries []*logEntry
	for _, de := range des {
		id, ok := strings.CutSuffix(strings.TrimSuffix(de.Name(), ".1"), ".log")
		if !ok || seen[id] != nil {
			continue
		}
		e := &logEntry{id: id, path: filepath.Join(dir, id+".log")}
		e.seq = s.order[e.path]
		if info, err := de.Info(); err == nil {
			e.mtime = info.ModTime()
		}
		seen[id] = e
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *logEntry) int {
		switch {
		case a.seq != b.seq:
			return int(a.seq - b.seq)
		case !a.mtime.Equal(b.mtime):
			return a.mtime.Compare(b.mtime)
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]logEntry, len(entries))
	for i, e := range entries {
		out[i] = *e
	}
	return out
}

// pruneLocked deletes dir's oldest logs past keep, never a live one.
func (s *logStore) pruneLocked(dir string) {
	entries := s.listLocked(dir)
	excess := len(entries) - s.keep
	for _, e := range entries {
		if excess <= 0 {
			return
		}
		if s.live[e.path] {
			continue
		}
		_ = os.Remove(e.path)
		_ = os.Remove(e.path + ".1")
		delete(s.order, e.path)
		excess--
	}
}

// removeRevision deletes every log of key.
func (s *logStore) removeRevision(key api.RevisionKey) error {
	dir := s.dir(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	for path := range s.order {
		if filepath.Dir(path) == dir {
			delete(s.order, path)
		}
	}
	err := os.RemoveAll(dir)
	_ = os.Remove(filepath.Dir(dir)) // the namespace's directory, once empty
	return err
}

// stampLayout is the time at the start of each line of an instance log,
// then a space: UTC, to the microsecond, fixed width. Microseconds order
// the lines of instances finely enough; a stamp costs 28 bytes of the
// log's limit per line.
const stampLayout = "2006-01-02T15:04:05.000000Z"

const stampLen = len(stampLayout) + 1

// logFile is an instance log that rotates to path.1 when it reaches limit,
// so an instance never keeps more than twice limit on disk. It starts each
// line with the time of the write that began it. One writer.
type logFile struct {
	path  string
	limit int64
	clock clock.PassiveClock // nil means the real clock
	f     *os.File
	size  int64
	mid   bool   // the last write ended inside a line
	buf   []byte // reused by Write
}

// Write writes p, each line that starts in it stamped with the time now,
// in one write to the file where no rotation falls inside it: a function
// that prints a line per request costs one write(2) per read of its
// output, not two per line. A stamp is never split across a rotation.
func (l *logFile) Write(p []byte) (int, error) {
	var stamp []byte
	buf := l.buf[:0]
	n := 0
	for len(p) > 0 {
		if !l.mid {
			if stamp == nil {
				stamp = l.now().UTC().AppendFormat(make([]byte, 0, stampLen), stampLayout)
				stamp = append(stamp, ' ')
			}
			if l.size+int64(len(buf)+len(stamp)) > l.limit {
				if _, err := l.write(buf); err != nil {
					return n, err
				}
				buf = buf[:0]
				if l.size > 0 && l.size+int64(len(stamp)) > l.limit {
					if err := l.rotate(); err != nil {
						return n, err
					}
				}
			}
			buf = append(buf, stamp...)
			l.mid = true
		}
		k := len(p)
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			k = i + 1
		}
		buf = append(buf, p[:k]...)
		n += k
		l.mid = p[k-1] != '\n'
		p = p[k:]
	}
	_, err := l.write(buf)
	if cap(buf) <= maxLogBuf {
		l.buf = buf[:0]
	}
	return n, err
}

// maxLogBuf bounds the buffer a logFile keeps between writes: an output
// read is at most 32 KiB, plus its stamps.
const maxLogBuf = 64 << 10

func (l *logFile) now() time.Time {
	if l.clock == nil {
		return time.Now()
	}
	return l.clock.Now()
}

// write writes p as it is, rotating at limit.
func (l *logFile) write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if l.size >= l.limit {
			if err := l.rotate(); err != nil {
				return n, err
			}
		}
		k := min(int64(len(p)), l.limit-l.size)
		m, err := l.f.Write(p[:k])
		n, l.size, p = n+m, l.size+int64(m), p[m:]
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (l *logFile) rotate() error {
	if l.f == nil {
		return os.ErrClosed
	}
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		_ = os.Remove(l.path) // keep the bound: lose the old part instead
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	l.f, l.size = f, 0
	return nil
}

func (l *logFile) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// read writes key's logs to w as Runtime.Logs documents: the instances'
// lines merged by time, each instance's in the order written.
func (s *logStore) read(ctx context.Context, clk clock.WithTicker, key api.RevisionKey, known bool, opts runtime.LogOptions, w io.Writer) error {
	dir := s.dir(key)
	if _, err := os.Stat(dir); err != nil && !known {
		return ErrUnknownRevision
	}
	bw := bufio.NewWriter(w)
	var cursors []*cursor
	seen := map[string]bool{}
	var batch [][]logLine
	for _, e := range s.list(dir) {
		c := &cursor{id: e.id, path: e.path, written: e.mtime}
		seen[e.id] = true
		cursors = append(cursors, c)
		batch = append(batch, c.timed(c.emit(c.readAll(), opts.Follow)))
	}
	lines := since(runtime.MergeByTime(batch, logLine.time), opts.Since)
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	writeLines(bw, lines, opts.Timestamps)
	if err := bw.Flush(); err != nil || !opts.Follow {
		return err
	}
	ticker := clk.NewTicker(followPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
		batch = batch[:0]
		for _, e := range s.list(dir) {
			if !seen[e.id] {
				seen[e.id] = true
				c := &cursor{id: e.id, path: e.path, written: e.mtime}
				cursors = append(cursors, c)
				batch = append(batch, c.timed(c.emit(c.readAll(), true)))
			}
		}
		for _, c := range cursors {
			batch = append(batch, c.poll())
		}
		writeLines(bw, since(runtime.MergeByTime(batch, logLine.time), opts.Since), opts.Timestamps)
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// logLine is one line of an instance's output, without its stamp.
type logLine struct {
	id   string // the instance
	at   time.Time
	text string
}

// since returns the lines written at t or later; all of them for zero t.
func since(lines []logLine, t time.Time) []logLine {
	if t.IsZero() {
		return lines
	}
	out := lines[:0]
	for _, l := range lines {
		if !l.at.Before(t) {
			out = append(out, l)
		}
	}
	return out
}

// writeLines writes lines as "[INSTANCE] line", with the time after the
// instance when stamps is set.
func writeLines(bw *bufio.Writer, lines []logLine, stamps bool) {
	var buf []byte
	for _, l := range lines {
		bw.WriteString("[" + l.id + "] ")
		if stamps {
			buf = l.at.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
			bw.Write(buf)
			bw.WriteByte(' ')
		}
		bw.WriteString(l.text)
		bw.WriteByte('\n')
	}
}

// cursor is how far Logs has read one instance's log.
type cursor struct {
	id      string
	path    string
	ino     uint64 // of the file off is in
	off     int64
	partial []byte // a last line not ended yet
	idle    int    // polls with nothing new while partial waits
	// last is the time of the last line read; written, of the log's
	// last write, stands in for lines of an unstamped log.
	last, written time.Time
}

// readAll reads INSTANCE.log.1 and INSTANCE.log, and places the cursor at
// the end of the latter.
func (c *cursor) readAll() []byte {
	data, _ := os.ReadFile(c.path + ".1")
	f, err := os.Open(c.path)
	if err != nil {
		return data
	}
	defer f.Close()
	c.ino = inode(f)
	more, _ := io.ReadAll(f)
	c.off = int64(len(more))
	return append(data, more...)
}

// poll returns the lines written since the last call. A log rotated since
// (its inode changed) is finished in INSTANCE.log.1 first.
func (c *cursor) poll() []logLine {
	f, err := os.Open(c.path)
	if err != nil {
		return nil // pruned or removed
	}
	defer f.Close()
	var data []byte
	if ino := inode(f); ino != c.ino {
		if old, err := os.Open(c.path + ".1"); err == nil {
			if inode(old) == c.ino {
				data, _ = io.ReadAll(io.NewSectionReader(old, c.off, 1<<62))
			}
			old.Close()
		}
		c.ino, c.off = ino, 0
	}
	more, _ := io.ReadAll(io.NewSectionReader(f, c.off, 1<<62))
	c.off += int64(len(more))
	data = append(data, more...)
	if len(data) == 0 && len(c.partial) > 0 {
		// A line left unended for two polls is shown as it is.
		if c.idle++; c.idle >= 2 {
			partial := string(c.partial)
			c.partial, c.idle = nil, 0
			return c.timed([]string{partial})
		}
		return nil
	}
	c.idle = 0
	return c.timed(c.emit(data, true))
}

// emit splits the partial line and data into lines. With hold, an unended
// last line is kept for later; without, it is returned as a line.
func (c *cursor) emit(data []byte, hold bool) []string {
	data = append(c.partial, data...)
	c.partial = nil
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if hold {
				c.partial = data
			} else {
				lines = append(lines, string(data))
			}
			break
		}
		lines = append(lines, string(data[:i]))
		data = data[i+1:]
	}
	return lines
}

// timed takes the stamps off lines read from the log. A line without one
// (the end of a line cut by a rotation, or a log of a wake from before
// stamps) takes the time of the line before it; lines before any stamp
// take the first stamp after them, else the log's last write.
func (c *cursor) timed(raw []string) []logLine {
	out := make([]logLine, len(raw))
	unknown := 0 // leading lines with no time yet
	for i, r := range raw {
		at, text, ok := parseStamp(r)
		switch {
		case ok:
			for j := i - unknown; j < i; j++ {
				out[j].at = at
			}
			unknown, c.last = 0, at
		case c.last.IsZero():
			unknown++
		default:
			at = c.last
		}
		out[i] = logLine{id: c.id, at: at, text: text}
	}
	for j := len(raw) - unknown; j < len(raw); j++ {
		out[j].at = c.written
	}
	return out
}

// parseStamp splits a line of a log into its stamp and what the instance
// wrote; ok is false for a line that starts with no stamp.
func parseStamp(line string) (at time.Time, text string, ok bool) {
	if len(line) < stampLen || line[stampLen-1] != ' ' || line[stampLen-2] != 'Z' {
		return time.Time{}, line, false
	}
	at, err := time.Parse(stampLayout, line[:stampLen-1])
	if err != nil {
		return time.Time{}, line, false
	}
	return at, line[stampLen:], true
}

func inode(f *os.File) uint64 {
	info, err := f.Stat()
	if err != nil {
		return 0
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func (l logLine) time() time.Time { return l.at }
