package v1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// YAML syntax errors in plain words, on the line where the problem is.
//
// yaml.v3 names the line where the construct it was reading began, not
// the line that broke it, and for its parser's errors (did not find
// expected key, '-' indicator, ',' or ']') that line is 0-based, so one
// early; on the first line it names none. Its words are its scanner's
// ("found character that cannot start any token" for a tab). So the line
// is found again here: the first prefix of the input, in whole lines, that
// fails the same way ends on the line that broke it. Then the line itself
// says what to write instead.

// syntaxProblem is one syntax error: what to tell the user, and where.
type syntaxProblem struct {
	line   int // where to point the user, 1-based in the parsed piece
	broken int // the line the parser failed on: parsing resumes after it
	msg    string
}

// yamlLine matches the position yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// syntaxError explains yaml.v3's error err about data, the piece of input
// being parsed, which starts after line offset of the file.
func syntaxError(err error, data []byte, offset int) syntaxProblem {
	raw := strings.TrimPrefix(err.Error(), "yaml: ")
	reported := 0
	if m := yamlLine.FindStringSubmatch(raw); m != nil {
		reported, _ = strconv.Atoi(m[1])
		raw = raw[len(m[0]):]
	}
	if isReaderError(raw) {
		if line, col, r, invalid := badText(data); line > 0 {
			msg := fmt.Sprintf("character %U at line %d, column %d is not allowed in YAML", r, line+offset, col)
			if invalid {
				msg = fmt.Sprintf("the text is not UTF-8: byte 0x%02x at line %d, column %d; save the file as UTF-8", r, line+offset, col)
			}
			return syntaxProblem{line: line + offset, broken: line + offset, msg: msg}
		}
	}
	lines := splitLines(data)
	line := failingLine(data, lines, raw)
	text := ""
	if line <= len(lines) {
		text = lines[line-1]
	}
	// context is where yaml.v3 says the construct began: its parser's
	// 0-based line, unless that is the failing line itself.
	context := 0
	if reported > 0 && reported+1 < line {
		context = reported + 1
	}
	at := func(l int) int { return l + offset }
	p := syntaxProblem{line: at(line), broken: at(line), msg: raw}
	runOn := true // the problem may come from a string left open above
	switch raw {
	case "found character that cannot start any token",
		"found a tab character that violates indentation",
		"found a tab character where an indentation space is expected":
		if col := indentTab(text); col > 0 {
			p.msg, runOn = fmt.Sprintf("tab character used for indentation at line %d, column %d; YAML indents with spaces", at(line), col), false
		} else if col, c := reservedStart(text); col > 0 {
			p.msg, runOn = fmt.Sprintf("%q cannot start a value in YAML (it is reserved) at line %d, column %d; put the value in quotes", c, at(line), col), false
		}
	case "found unexpected end of stream":
		runOn = false
		for _, q := range scanQuotes(lines) {
			if q.endLine == 0 {
				p.line = at(q.line)
				p.msg = fmt.Sprintf("the string opened with %c at line %d, column %d is never closed; add the closing %c", q.quote, at(q.line), q.col, q.quote)
				break
			}
		}
	case "did not find expected key":
		p.msg = indentMsg(lines, line, context, offset, false)
	case "did not find expected '-' indicator":
		p.msg = indentMsg(lines, line, context, offset, true)
	case "mapping values are not allowed in this context":
		if key, value, ok := strings.Cut(strings.TrimSpace(text), ": "); ok && strings.Contains(value, ": ") {
			p.msg = fmt.Sprintf("the value of %s holds \": \", which YAML reads as the start of a map; put the value in quotes", key)
		} else {
			p.msg = "bad indentation: this line is indented under one whose value is not a map"
		}
	case "block sequence entries are not allowed in this context":
		p.msg = "a \"- \" list item is not allowed here: check its indentation"
	case "found unknown escape character":
		p.msg, runOn = "unknown escape sequence in a double-quoted string: write \\\\ for a backslash, or quote the string with ' instead", false
	case "did not find expected ',' or ']'":
		p.msg = "a list in [ ] is not closed with \"]\", or lacks a \",\" between items"
	case "did not find expected ',' or '}'":
		p.msg = "a map in { } is not closed with \"}\", or lacks a \",\" between entries"
	case "did not find expected node content":
		p.msg = "expected a value here"
	default:
		if name, ok := strings.CutPrefix(raw, "unknown anchor '"); ok {
			name = strings.TrimSuffix(name, "' referenced")
			p.msg, runOn = fmt.Sprintf("*%s refers to no anchor: define it above with &%s", name, name), false
		}
	}
	// A string whose closing quote is missing runs on to the next quote
	// and breaks the YAML there: point at where it began.
	if runOn {
		for _, q := range scanQuotes(lines[:min(line, len(lines))]) {
			if q.endLine > q.line && q.endLine >= line-1 {
				p.line = at(q.line)
				p.msg = fmt.Sprintf("the string opened with %c at line %d, column %d runs on to line %d, where the YAML breaks; is its closing %c missing?",
					q.quote, at(q.line), q.col, at(q.endLine), q.quote)
				break
			}
		}
	}
	return p
}

// indentMsg says that line does not line up with the map (or, with list
// set, the list) that began at line context (0: unknown).
func indentMsg(lines []string, line, context, offset int, list bool) string {
	what := "the keys of the map"
	if list {
		what = "the items of the list"
	}
	if context == 0 || line > len(lines) {
		return fmt.Sprintf("bad indentation: this line does not line up with %s above it", what)
	}
	have, want := indentation(lines[line-1], !list), indentation(lines[context-1], !list)
	if have == want {
		// In line with a list's items, but not one of them.
		return fmt.Sprintf("bad indentation: this line is indented like %s that starts at line %d, but is not an item (\"- \")", what, context+offset)
	}
	return fmt.Sprintf("bad indentation: this line is indented %d spaces, but %s that starts at line %d are indented %d",
		have, what, context+offset, want)
}

// indentation is where a line's content starts, in spaces; with dash set,
// a list item's "- " counts too, as the indentation of the map it starts.
func indentation(line string, dash bool) int {
	n := 0
	for n < len(line) && (line[n] == ' ' || (dash && line[n] == '-' && n+1 < len(line) && line[n+1] == ' ')) {
		n++
	}
	return n
}

// failingLine returns the first line at which data fails with problem:
// the end of the shortest prefix, in whole lines, whose parse fails with
// it. Prefixes that end before the broken line parse (or fail otherwise),
// and those that end after it fail the same way, so it bisects: parses
// stop at their first error, so this costs a few parses of the input up
// to the broken line.
func failingLine(data []byte, lines []string, problem string) int {
	ends := make([]int, 0, len(lines)) // offset just past each line
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] < len(data) {
		ends = append(ends, len(data))
	}
	lo, hi := 1, len(ends)
	for lo < hi {
		mid := (lo + hi) / 2
		if failsWith(data[:ends[mid-1]], problem) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return min(lo, max(len(lines), 1))
}

// failsWith tells whether parsing data fails with problem.
func failsWith(data []byte, problem string) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return false
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			msg = msg[len(m[0]):]
		}
		return msg == problem
	}
}

// splitLines splits data into lines without their line breaks.
func splitLines(data []byte) []string {
	s := strings.TrimSuffix(string(data), "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// indentTab returns the 1-based column of the first tab in the
// indentation of line, or 0.
func indentTab(line string) int {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\t':
			return i + 1
		case ' ', '-':
			// "- \tname" indents a list item's map with a tab too
		default:
			return 0
		}
	}
	return 0
}

// reservedStart finds a plain value that starts with a character YAML
// reserves (@, `), or a % that is not a directive: its column and the
// character.
func reservedStart(line string) (int, byte) {
	for i := 0; i < len(line); i++ {
		c := line[i]
		if (c == '@' || c == '`' || c == '%') && (i == 0 || strings.IndexByte(" \t[{,", line[i-1]) >= 0) {
			return i + 1, c
		}
	}
	return 0, 0
}

// isReaderError tells whether yaml.v3's message is about the text's
// encoding rather than its syntax.
func isReaderError(msg string) bool {
	return strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode character")
}

// badText returns the line and column of the first character YAML does
// not accept, with it: a byte that is not UTF-8 (invalid), or a control
// character. Line 0 means there is none.
func badText(b []byte) (line, col int, r rune, invalid bool) {
	if bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF}) {
		return 0, 0, 0, false // UTF-16, which yaml.v3 reads; not checked here
	}
	line, col = 1, 1
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return line, col, rune(b[i]), true
		}
		ok := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
			(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) ||
			(r >= 0x10000 && r <= utf8.MaxRune)
		if !ok {
			return line, col, r, false
		}
		if r == '\n' {
			line, col = line+1, 0
		}
		i += size
		col++
	}
	return 0, 0, 0, false
}

// quoted is a quoted string as scanQuotes found it.
type quoted struct {
	quote     byte
	line, col int // where it opens, 1-based
	endLine   int // where it closes; 0: never
}

// scanQuotes finds the quoted strings of YAML lines, well enough to say
// where one that is never closed, or runs on for lines, began: a quote
// opens a string only where a value can start (after indentation, "- ",
// ": ", "[", "{" or ","), and comments and block scalars (| and >) are
// skipped. It is a heuristic for messages, not a parser.
func scanQuotes(lines []string) []quoted {
	var out []quoted
	var open *quoted
	block := -1 // in a block scalar: the indentation of its key's line
	for n, text := range lines {
		indent := len(text) - len(strings.TrimLeft(text, " "))
		if block >= 0 && open == nil {
			if strings.TrimSpace(text) == "" || indent > block {
				continue
			}
			block = -1
		}
		for i := 0; i < len(text); i++ {
			c := text[i]
			if open != nil {
				switch {
				case open.quote == '"' && c == '\\':
					i++
				case open.quote == '\'' && c == '\'' && i+1 < len(text) && text[i+1] == '\'':
					i++
				case c == open.quote:
					open.endLine = n + 1
					out = append(out, *open)
					open = nil
				}
				continue
			}
			if c == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t') {
				break // a comment
			}
			switch {
			case !valueStart(text, i):
			case c == '"' || c == '\'':
				open = &quoted{quote: c, line: n + 1, col: i + 1}
			case (c == '|' || c == '>') && strings.Trim(strings.SplitN(text[i+1:], " #", 2)[0], "+-0123456789 ") == "":
				block = indent
				i = len(text)
			}
		}
	}
	if open != nil {
		out = append(out, *open)
	}
	return out
}

// valueStart tells whether a value can start at text[i]: after the
// indentation, "- ", ": ", "? ", "[", "{" or ",". A quote elsewhere is
// part of a plain value (it's, 5'10").
func valueStart(text string, i int) bool {
	j := i - 1
	for j >= 0 && (text[j] == ' ' || text[j] == '\t') {
		j--
	}
	if j < 0 {
		return true
	}
	switch text[j] {
	case '[', '{', ',':
		return true
	case ':', '-', '?':
		return j < i-1 // a space after it
	}
	return false
}
