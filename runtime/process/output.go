package process

import (
	"os"
	"strings"
	"sync"
	"time"
)

// output copies an instance's stdout and stderr (one pipe) to its log
// file, keeping the last tailBytes in memory for failure messages. The
// pipe is always drained, even when the log cannot be written, so the
// instance never blocks on a full pipe.
type output struct {
	r    *os.File
	lf   *logFile
	done chan struct{} // closed at EOF or once r is closed

	mu   sync.Mutex
	tail []byte
}

const tailBytes = 4 << 10

func newOutput(r *os.File, lf *logFile) *output {
	o := &output{r: r, lf: lf, done: make(chan struct{})}
	go o.copy()
	return o
}

func (o *output) copy() {
	defer close(o.done)
	buf := make([]byte, 32<<10)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			_, _ = o.lf.Write(buf[:n])
			o.mu.Lock()
			o.tail = append(o.tail, buf[:n]...)
			if len(o.tail) > tailBytes {
				o.tail = append(o.tail[:0], o.tail[len(o.tail)-tailBytes:]...)
			}
			o.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// wait waits up to d for the end of the output.
func (o *output) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
}

// close stops copying and closes the log file.
func (o *output) close() {
	o.r.Close()
	<-o.done
	o.lf.Close()
}

// quote returns "; last output: " and the last lines printed, or "" when
// there was none.
func (o *output) quote() string {
	o.mu.Lock()
	s := strings.TrimRight(string(o.tail), "\n")
	full := len(o.tail) == tailBytes
	o.mu.Unlock()
	if strings.TrimSpace(s) == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > lastLines {
		lines = lines[len(lines)-lastLines:]
	}
	if full && len(lines) > 1 && len(lines) < lastLines {
		lines = lines[1:] // the first one was cut by the buffer
	}
	return "; last output: " + strings.Join(lines, "\n")
}
