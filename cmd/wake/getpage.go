package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wake get reads lists in pages, as kubectl does: --chunk-size items an
// answer (500 unless told), following each answer's continue token until
// the list ends, so that wake serve never builds a 10,000-function list
// as one answer. Like kubectl, it prints once every page has come (a
// table's columns fit every row). --limit and --continue read one part of
// a list and say how to read the next: the admin API's limit and continue.

// defaultChunkSize is kubectl's --chunk-size default.
const defaultChunkSize = 500

// pageQuery is one list call's page: at most limit items (0: all), from
// the continue token cont ("" for the first page), of those that selector
// (-l, "" for all) matches. wake serve selects before it counts, as the
// Kubernetes API does, so --limit 10 -l app=shop shows 10 of the shop's.
type pageQuery struct {
	limit    int
	cont     string
	selector string
}

func (p pageQuery) values() url.Values {
	q := url.Values{}
	if p.limit > 0 {
		q.Set("limit", strconv.Itoa(p.limit))
	}
	if p.cont != "" {
		q.Set("continue", p.cont)
	}
	if p.selector != "" {
		q.Set("labelSelector", p.selector)
	}
	return q
}

// listObjects reads t's objects of a namespace ("" for all) from
// want.cont, want.limit of them (0: to the end), chunk a call (0: all in
// one). Its meta is the last page's: a continue token when a limit left
// some unread.
func listObjects(ctx context.Context, c *client, t *resourceType, namespace string, want pageQuery, chunk int) ([]metav1.Object, metav1.ListMeta, error) {
	var objs []metav1.Object
	cont := want.cont
	for {
		size := chunk
		if left := want.limit - len(objs); want.limit > 0 && (size == 0 || left < size) {
			size = left
		}
		page, meta, err := t.list(ctx, c, namespace, pageQuery{limit: size, cont: cont, selector: want.selector})
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		objs = append(objs, page...)
		cont = meta.Continue
		if cont == "" || (want.limit > 0 && len(objs) >= want.limit) {
			return objs, meta, nil
		}
	}
}

// checkPaging refuses flags that do not go together.
func (o *getOptions) checkPaging(reqs []getRequest) error {
	switch {
	case o.chunkSize < 0:
		return fmt.Errorf("--chunk-size: must be 0 (no chunks) or more, got %d", o.chunkSize)
	case o.limit < 0:
		return fmt.Errorf("--limit: must be 0 (no limit) or more, got %d", o.limit)
	case o.limit == 0 && o.continueToken == "":
		return nil
	case len(reqs) > 1:
		return errors.New("--limit, --continue: page one resource type at a time")
	case anyNames(reqs):
		return errors.New("--limit, --continue: page a list, not objects named")
	case o.watch:
		return errors.New("--limit, --continue: not with -w, which watches the whole list")
	}
	return nil
}

// sayMore tells, on stderr, how to read the rest of a list a limit cut.
func sayMore(errOut io.Writer, meta metav1.ListMeta) {
	if meta.Continue == "" {
		return
	}
	more := "more remain"
	if n := meta.RemainingItemCount; n != nil {
		more = fmt.Sprintf("%d more remain", *n)
	}
	fmt.Fprintf(errOut, "%s: read on with --continue %s\n", more, meta.Continue)
}
