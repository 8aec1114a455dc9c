package process

import (
	"strings"
	"testing"
)

// TestQuoteKeepsTheErrorLine: the lines quoted in a failure message are
// the last ones printed, plus, when none of them says what failed, the
// last earlier line that does.
func TestQuoteKeepsTheErrorLine(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      []string // in order
		not       []string
	}{
		{
			name: "node",
			out: `node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module '/srv/fn/index.js'
    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)
    at Module._load (node:internal/modules/cjs/loader:1051:27)
    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:174:12)
    at node:internal/main/run_main_module:28:49 {
  code: 'MODULE_NOT_FOUND',
  requireStack: []
}

Node.js v20.20.2
`,
			want: []string{"; last output: Error: Cannot find module '/srv/fn/index.js'\n...\n", "requireStack: []", "Node.js v20.20.2"},
			not:  []string{"throw err"},
		},
		{
			name: "python",
			out: `Traceback (most recent call last):
  File "/srv/app.py", line 1, in <module>
    import flask
ModuleNotFoundError: No module named 'flask'
`,
			want: []string{"; last output: Traceback", "ModuleNotFoundError: No module named 'flask'"},
		},
		{
			name: "go panic",
			out:  "panic: listen tcp: address 99999: invalid port\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:12 +0x1d\nexit status 2\n",
			want: []string{"; last output: panic: listen tcp: address 99999: invalid port\n\ngoroutine 1 [running]:"},
		},
		{
			name: "no error words",
			out:  "starting\nloading config\nlistening soon\n",
			want: []string{"; last output: starting\nloading config\nlistening soon"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &output{tail: []byte(tc.out)}
			got := o.quote()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(got[at:], w)
				if i < 0 {
					t.Fatalf("quote() = %q\nwant, in order, %q", got, tc.want)
				}
				at += i + len(w)
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("quote() = %q, want no %q", got, n)
				}
			}
		})
	}
	// The error line survives kilobytes of stack trace below it, and a
	// tail cut by the buffer drops its partial first line.
	java := "Exception in thread \"main\" java.lang.IllegalStateException: no DATABASE_URL\n" +
		strings.Repeat("\tat com.example.App.main(App.java:12)\n", 200)
	if got := (&output{tail: []byte(java)}).quote(); !strings.HasPrefix(got, "; last output: Exception in thread \"main\" java.lang.IllegalStateException: no DATABASE_URL\n...\n") {
		t.Errorf("quote() of a long Java trace = %q", got)
	}
	cut := "partial error line\n" + strings.Repeat("x", tailBytes)
	cut = cut[len(cut)-tailBytes:]
	cut = "rtial error line\n" + cut[len("rtial error line\n"):]
	if got := (&output{tail: []byte(cut)}).quote(); strings.Contains(got, "rtial") {
		t.Errorf("quote() kept the line the buffer cut: %.60q", got)
	}
}
