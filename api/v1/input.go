package v1

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Splitting input into documents: YAML streams (resuming after a syntax
// error), JSON objects written one after another, and the lines of both.

// parse decodes the documents in data[start:end]. After a syntax error it
// resumes at the next "---", so one broken document does not hide the
// problems of the others.
func (d *decoder) parse(start, end int) {
	for start < end && !d.report.stopped {
		offset := d.linesBefore(start)
		dec := yaml.NewDecoder(bytes.NewReader(d.data[start:end]))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				p := syntaxError(err, d.data[start:end], offset)
				d.report.add(FieldError{Source: d.source, Line: p.line, Message: p.msg})
				start = d.nextDocument(start, end, p.broken)
				break
			}
			if len(doc.Content) > 0 {
				d.object(doc.Content[0], offset, nil)
			}
		}
	}
}

// linesBefore counts the lines before offset. Offsets asked for only grow
// (pieces and documents are parsed in order), so it counts each byte once
// however many pieces there are.
func (d *decoder) linesBefore(offset int) int {
	if offset < d.counted {
		d.counted, d.lines = 0, 0
	}
	d.lines += bytes.Count(d.data[d.counted:offset], []byte("\n"))
	d.counted = offset
	return d.lines
}

// nextDocument returns the offset of the first "---" line in
// data[start:end] after line afterLine (counted from the start of data),
// or end if there is none.
func (d *decoder) nextDocument(start, end, afterLine int) int {
	data := d.data
	line := d.linesBefore(start) + 1
	for i := start; i < end; {
		nl := bytes.IndexByte(data[i:end], '\n')
		next := end
		if nl >= 0 {
			next = i + nl + 1
		}
		text := data[i:next]
		if line > afterLine && i > start && bytes.HasPrefix(text, []byte("---")) &&
			(len(text) == 3 || strings.ContainsRune(" \t\r\n", rune(text[3]))) {
			return i
		}
		i, line = next, line+1
	}
	return end
}

// jsonStream splits objects written one after another ({...}{...}, as jq
// prints them), which YAML would reject after the first, into the ranges
// of data holding each. It returns nil for anything else, which is parsed
// as YAML. It knows strings in both quote styles and YAML comments, so a
// brace inside one does not count.
func jsonStream(data []byte) [][2]int {
	var out [][2]int
	for i := skipSpace(data, 0); i < len(data); i = skipSpace(data, i) {
		if data[i] != '{' {
			return nil
		}
		end := closeBrace(data, i)
		if end < 0 {
			return nil
		}
		out = append(out, [2]int{i, end})
		i = end
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && strings.IndexByte(" \t\r\n", data[i]) >= 0 {
		i++
	}
	return i
}

// closeBrace returns the offset just past the brace that closes the one
// at data[i], or -1.
func closeBrace(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '\'':
			// YAML single quotes: '' is a quote inside, and two closing
			// quotes in a row read the same way, so no special case.
			for i++; i < len(data) && data[i] != '\''; i++ {
			}
		case '#':
			if i > 0 && strings.IndexByte(" \t\r\n", data[i-1]) >= 0 {
				for i < len(data) && data[i] != '\n' {
					i++
				}
			}
		}
	}
	return -1
}
