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
type logStore struct {
	root  string
	limit int64
	keep  int

	mu    sync.Mutex
	order map[string]int64 // log path → start order, for the instances of this run
	live  map[string]bool  // log paths still written to
}

func newLogStore(root string, limit int64, keep int) *logStore {
	return &logStore{root: root, limit: limit, keep: keep, order: map[string]int64{}, live: map[string]bool{}}
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
		return id, &logFile{path: path, limit: s.limit, f: f}, nil
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

// logFile is an instance log that rotates to path.1 when it reaches limit,
// so an instance never keeps more than twice limit on disk. One writer.
type logFile struct {
	path  string
	limit int64
	f     *os.File
	size  int64
}

func (l *logFile) Write(p []byte) (int, error) {
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

// read writes key's logs to w as Runtime.Logs documents.
func (s *logStore) read(ctx context.Context, clk clock.WithTicker, key api.RevisionKey, known bool, opts runtime.LogOptions, w io.Writer) error {
	dir := s.dir(key)
	if _, err := os.Stat(dir); err != nil && !known {
		return ErrUnknownRevision
	}
	bw := bufio.NewWriter(w)
	var cursors []*cursor
	seen := map[string]bool{}
	for _, e := range s.list(dir) {
		c := &cursor{id: e.id, path: e.path}
		seen[e.id] = true
		cursors = append(cursors, c)
		lines := c.emit(c.readAll(), opts.Follow)
		if opts.Tail > 0 && len(lines) > opts.Tail {
			lines = lines[len(lines)-opts.Tail:]
		}
		c.write(bw, lines)
	}
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
		for _, e := range s.list(dir) {
			if !seen[e.id] {
				seen[e.id] = true
				c := &cursor{id: e.id, path: e.path}
				cursors = append(cursors, c)
				c.write(bw, c.emit(c.readAll(), true))
			}
		}
		for _, c := range cursors {
			c.poll(bw)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
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

// poll reads what was written since the last call. A log rotated since
// (its inode changed) is finished in INSTANCE.log.1 first.
func (c *cursor) poll(bw *bufio.Writer) {
	f, err := os.Open(c.path)
	if err != nil {
		return // pruned or removed
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
			c.write(bw, []string{string(c.partial)})
			c.partial, c.idle = nil, 0
		}
		return
	}
	c.idle = 0
	c.write(bw, c.emit(data, true))
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

func (c *cursor) write(bw *bufio.Writer, lines []string) {
	for _, l := range lines {
		bw.WriteString("[" + c.id + "] ")
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
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
