package process

import (
	"os"
	"regexp"
	"slices"
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

// tailBytes of output are kept for failure messages: enough for a Java
// or Node stack trace below the line that says what failed.
const tailBytes = 16 << 10

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
// there was none. When none of those lines looks like an error and an
// earlier one does (an exception's message above its stack trace, a Go
// panic above its goroutines), that line comes first, then "...": the
// line a user needs is rarely the last one printed.
func (o *output) quote() string {
	o.mu.Lock()
	s := strings.TrimRight(string(o.tail), "\n")
	full := len(o.tail) == tailBytes
	o.mu.Unlock()
	if strings.TrimSpace(s) == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if full && len(lines) > 1 {
		lines = lines[1:] // the first one was cut by the buffer
	}
	last := lines[max(0, len(lines)-lastLines):]
	if slices.IndexFunc(last, looksLikeError) < 0 {
		if i := lastIndexFunc(lines[:len(lines)-len(last)], looksLikeError); i >= 0 {
			head := []string{strings.TrimSpace(lines[i])}
			if i+1 < len(lines)-len(last) {
				head = append(head, "...")
			}
			last = append(head, last...)
		}
	}
	return "; last output: " + strings.Join(last, "\n")
}

// errorLine matches a line that reports an error in the usual runtimes'
// words: "Error: Cannot find module", "ModuleNotFoundError: ...",
// "panic: ...", "Exception in thread", "FATAL", "cannot open ...".
var errorLine = regexp.MustCompile(`(?i)(^|[^a-z_])(error|exception|panic|fatal|traceback|cannot|can't|could not|unable to|failed|no such file|permission denied|not found)([^a-z_]|$)`)

func looksLikeError(line string) bool {
	line = strings.TrimSpace(line)
	// A stack frame names functions and files, not what went wrong.
	if strings.HasPrefix(line, "at ") || strings.HasPrefix(line, "File \"") {
		return false
	}
	return errorLine.MatchString(line)
}

func lastIndexFunc(lines []string, f func(string) bool) int {
	for i := len(lines) - 1; i >= 0; i-- {
		if f(lines[i]) {
			return i
		}
	}
	return -1
}
