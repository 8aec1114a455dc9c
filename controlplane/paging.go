package controlplane

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	api "github.com/wakefn/wake/api/v1"
)

// Paged lists, as the Kubernetes API pages them: items in a stable order
// (namespace/name; revisions by function, then age), at most Limit an
// answer, and a continue token naming where the answer stopped. A page
// builds the status of its own items only, so a client that reads 10,000
// functions 500 at a time makes the control plane hold 500 of them, not
// 10,000, in each answer.

// ListOptions page a list. The zero value lists everything, as before
// paging.
type ListOptions struct {
	// Limit is the most items an answer holds; 0 means no limit.
	Limit int
	// Continue is the token of the previous answer ("" for the first).
	Continue string
	// Selector keeps the items whose labels it matches, before the
	// limit counts them; nil keeps all.
	Selector labels.Selector
}

// selects says whether o's selector keeps an object with these labels.
func (o ListOptions) selects(l map[string]string) bool {
	return o.Selector == nil || o.Selector.Matches(labels.Set(l))
}

// ListPage says where a page stopped: Continue is the token for the next
// page ("" when this one is the last) and Remaining how many items follow
// it.
type ListPage struct {
	Continue  string
	Remaining int64
}

// The token is opaque to clients: base64 of the list's kind and the sort
// key of the last item returned, joined by NUL (no name can hold one).
// Continuing from a key rather than an offset keeps the next page right
// when items before it are added or deleted meanwhile.
const (
	tokenFunctions = "f"
	tokenRevisions = "r"
	tokenTriggers  = "t"
)

func encodeToken(kind string, key []string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + strings.Join(key, "\x00")))
}

// decodeToken reads a token of kind with want parts; "" is the first
// page (a nil key).
func decodeToken(kind, token string, want int) ([]string, error) {
	if token == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != want+1 || parts[0] != kind {
		return nil, &InvalidError{Message: fmt.Sprintf("continue: %q is not a token this list gave", token)}
	}
	return parts[1:], nil
}

func checkLimit(limit int) error {
	if limit < 0 {
		return &InvalidError{Message: fmt.Sprintf("limit: must be 0 (no limit) or more, got %d", limit)}
	}
	return nil
}

// after says whether key sorts after from (every key does when from is
// nil).
func after(key, from []string) bool {
	for i := range from {
		if key[i] != from[i] {
			return key[i] > from[i]
		}
	}
	return from == nil
}

// FunctionsPage lists a page of the functions of a namespace ("" for
// all), by namespace/name.
func (c *ControlPlane) FunctionsPage(namespace string, opts ListOptions) ([]*api.Function, ListPage, error) {
	if err := checkLimit(opts.Limit); err != nil {
		return nil, ListPage{}, err
	}
	from, err := decodeToken(tokenFunctions, opts.Continue, 1)
	if err != nil {
		return nil, ListPage{}, err
	}
	rollouts := c.rolloutStatus()
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := c.functionKeysLocked(namespace)
	if opts.Selector != nil {
		selected := keys[:0]
		for _, k := range keys {
			if opts.selects(c.fns[k].Labels) {
				selected = append(selected, k)
			}
		}
		keys = selected
	}
	start := 0
	if from != nil {
		start = sort.Search(len(keys), func(i int) bool { return keys[i].String() > from[0] })
	}
	end := pageEnd(start, len(keys), opts.Limit)
	out := make([]*api.Function, 0, end-start)
	for _, k := range keys[start:end] {
		out = append(out, c.withStatusLocked(c.fns[k], rollouts[k]))
	}
	var page ListPage
	if end < len(keys) {
		page = ListPage{Continue: encodeToken(tokenFunctions, []string{keys[end-1].String()}), Remaining: int64(len(keys) - end)}
	}
	return out, page, nil
}

// pageEnd is where a page that starts at start ends, of n items.
func pageEnd(start, n, limit int) int {
	if limit > 0 && n-start > limit {
		return start + limit
	}
	return n
}

// functionKeysLocked are the keys of a namespace's functions ("" for
// all), sorted as NAMESPACE/NAME strings.
func (c *ControlPlane) functionKeysLocked(namespace string) []api.FunctionKey {
	keys := make([]api.FunctionKey, 0, len(c.fns))
	for k := range c.fns {
		if namespace == "" || k.Namespace == namespace {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// RevisionsPage lists a page of the revisions of a namespace ("" for
// all), optionally of one function, by function then age.
func (c *ControlPlane) RevisionsPage(namespace, function string, opts ListOptions) ([]*api.Revision, ListPage, error) {
	if err := checkLimit(opts.Limit); err != nil {
		return nil, ListPage{}, err
	}
	from, err := decodeToken(tokenRevisions, opts.Continue, 3)
	if err != nil {
		return nil, ListPage{}, err
	}
	out, page := c.revisionsPage(namespace, function, from, opts)
	for _, r := range out {
		c.setAutoscaling(r, false)
	}
	return out, page, nil
}

// revisionKey is a revision's place in the list: its function, then its
// generation (zero-padded, so that strings compare as numbers), then its
// name, as sortRevisions orders them.
func revisionKey(fn api.FunctionKey, r *api.Revision) []string {
	g, _ := strconv.ParseInt(r.Labels[api.LabelGeneration], 10, 64)
	return []string{fn.String(), fmt.Sprintf("%020d", g), r.Name}
}

func (c *ControlPlane) revisionsPage(namespace, function string, from []string, opts ListOptions) ([]*api.Revision, ListPage) {
	limit := opts.Limit
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*api.Revision
	var page ListPage
	var last []string
	for _, fn := range c.functionKeysLocked(namespace) {
		if function != "" && fn.Name != function {
			continue
		}
		if from != nil && fn.String() < from[0] {
			continue
		}
		if limit > 0 && len(out) == limit && opts.Selector == nil {
			// Full: count what is left, without copying it.
			page.Remaining += int64(len(c.byFn[fn]))
			continue
		}
		for _, r := range c.revisionsOfLocked(fn) {
			k := revisionKey(fn, r)
			if !opts.selects(r.Labels) || !after(k, from) {
				continue
			}
			if limit > 0 && len(out) == limit {
				page.Remaining++
				continue
			}
			out = append(out, c.revisionWithStatusLocked(r))
			last = k
		}
	}
	if page.Remaining > 0 {
		page.Continue = encodeToken(tokenRevisions, last)
	} else {
		page = ListPage{}
	}
	return out, page
}

// TriggersPage lists a page of the triggers of a namespace ("" for all),
// by namespace/name.
func (c *ControlPlane) TriggersPage(namespace string, opts ListOptions) ([]*api.Trigger, ListPage, error) {
	if err := checkLimit(opts.Limit); err != nil {
		return nil, ListPage{}, err
	}
	from, err := decodeToken(tokenTriggers, opts.Continue, 1)
	if err != nil {
		return nil, ListPage{}, err
	}
	c.mu.Lock()
	keys := make([]api.TriggerKey, 0, len(c.trigs))
	for k := range c.trigs {
		if (namespace == "" || k.Namespace == namespace) && (from == nil || k.String() > from[0]) && opts.selects(c.trigs[k].Labels) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	end := pageEnd(0, len(keys), opts.Limit)
	views := make([]triggerView, 0, end)
	for _, k := range keys[:end] {
		views = append(views, c.viewLocked(c.trigs[k]))
	}
	c.mu.Unlock()
	out := make([]*api.Trigger, 0, len(views))
	for _, v := range views {
		out = append(out, c.withStatus(v))
	}
	var page ListPage
	if end < len(keys) {
		page = ListPage{Continue: encodeToken(tokenTriggers, []string{keys[end-1].String()}), Remaining: int64(len(keys) - end)}
	}
	return out, page, nil
}
