package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// watchInterval is how often wake get -w asks wake serve again. The
// admin API has no stream of changes (the console's event stream carries
// the console's own view, to its pages' sessions); a list costs wake
// serve a lock and a copy per object, so asking every second is cheap, and
// a change shows within a second.
const watchInterval = time.Second

// watchGet prints what r selects as wake get does, then, each time ticks
// fires, every object that appeared, changed or went since, until ctx
// ends (Ctrl-C), when it returns nil. An object has changed when its row
// of the table has, its AGE aside. Like kubectl, a deleted object is
// printed as it last was; --output-watch-events says which event each is.
func watchGet(ctx context.Context, out, errOut io.Writer, c *client, o *getOptions, r getRequest, ticks <-chan time.Time) error {
	w := &watcher{out: out, errOut: errOut, c: c, o: o, typ: r.typ, table: &table{w: out}, seen: map[string]watched{}}
	if o.watchEvents {
		w.table.fit([]string{"MODIFIED"}) // the widest event: the column never shifts
	}
	for first := true; ; first = false {
		objs, missing, _, err := r.fetch(ctx, c, o)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if first && len(missing) > 0 {
			return r.notFound(missing[0], o)
		}
		if err := w.update(ctx, objs, first); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}

// watcher remembers what wake get -w printed.
type watcher struct {
	out, errOut io.Writer
	c           *client
	o           *getOptions
	typ         *resourceType
	table       *table
	headerDone  bool
	printed     bool               // an object was printed (json, yaml: the next needs a separator)
	seen        map[string]watched // by NAMESPACE/NAME
}

// watched is an object as it was last printed.
type watched struct {
	obj metav1.Object
	row []string
	sig string // row without its AGE, to compare
}

// watchEvent is what happened to an object, as kubectl names it.
type watchEvent struct {
	Type   string `json:"type"` // ADDED, MODIFIED or DELETED
	Object any    `json:"object"`
	row    []string
}

// update compares objs with what was printed, and prints the differences.
func (w *watcher) update(ctx context.Context, objs []metav1.Object, first bool) error {
	header, rows, err := w.typ.table(ctx, w.c, w.o, objs, false)
	if err != nil {
		return err
	}
	ageColumn := slices.Index(header, "AGE")
	var events []watchEvent
	current := map[string]bool{}
	for i, obj := range objs {
		key := obj.GetNamespace() + "/" + obj.GetName()
		current[key] = true
		sig := rowSignature(rows[i], ageColumn)
		event := "ADDED"
		if prev, ok := w.seen[key]; ok {
			if prev.sig == sig {
				continue
			}
			event = "MODIFIED"
		}
		w.seen[key] = watched{obj: obj, row: rows[i], sig: sig}
		events = append(events, watchEvent{Type: event, Object: obj, row: rows[i]})
	}
	var gone []string
	for key := range w.seen {
		if !current[key] {
			gone = append(gone, key)
		}
	}
	sort.Strings(gone)
	for _, key := range gone {
		prev := w.seen[key]
		delete(w.seen, key)
		events = append(events, watchEvent{Type: "DELETED", Object: prev.obj, row: prev.row})
	}
	if first && len(events) == 0 && w.o.format.tabular() {
		if w.o.allNamespaces {
			fmt.Fprintln(w.errOut, "No resources found")
		} else {
			fmt.Fprintf(w.errOut, "No resources found in %s namespace.\n", w.o.namespace)
		}
	}
	return w.print(header, events)
}

// rowSignature is a row without its AGE column, which changes on its own.
func rowSignature(row []string, ageColumn int) string {
	if ageColumn >= 0 && ageColumn < len(row) {
		row = slices.Concat(row[:ageColumn], row[ageColumn+1:])
	}
	return strings.Join(row, "\x00")
}

func (w *watcher) print(header []string, events []watchEvent) error {
	if len(events) == 0 {
		return nil
	}
	switch {
	case w.o.format.kind == "name":
		for _, e := range events {
			name := qualifiedName(w.typ.kind, e.Object.(metav1.Object).GetName())
			if w.o.watchEvents {
				name = e.Type + " " + name
			}
			if _, err := fmt.Fprintln(w.out, name); err != nil {
				return err
			}
		}
		return nil
	case !w.o.format.tabular():
		for _, e := range events {
			if w.printed && w.o.format.kind == "yaml" {
				io.WriteString(w.out, "---\n")
			}
			w.printed = true
			var v any = e.Object
			if w.o.watchEvents {
				v = e
			}
			if err := w.o.format.printValue(w.out, v); err != nil {
				return err
			}
		}
		return nil
	}
	rows := make([][]string, len(events))
	for i, e := range events {
		rows[i] = e.row
		if w.o.watchEvents {
			rows[i] = append([]string{e.Type}, e.row...)
		}
	}
	w.table.fit(rows...)
	if !w.headerDone && !w.o.noHeaders {
		if w.o.watchEvents {
			header = append([]string{"EVENT"}, header...)
		}
		w.table.fit(header)
		if err := w.table.write(header); err != nil {
			return err
		}
	}
	w.headerDone = true
	return w.table.write(rows...)
}
