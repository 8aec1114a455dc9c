package kube

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// Logs writes the output of the revision's pods through the API server's
// pods/log endpoint, each line prefixed with "[POD] ": without Follow, pod
// after pod in creation order; with it, the pods of the moment
// concurrently, line by line, until ctx ends (pods started later are not
// followed). The kubelet keeps the output, so a pod deleted is a log gone.
func (r *Runtime) Logs(ctx context.Context, key api.RevisionKey, opts runtime.LogOptions, w io.Writer) error {
	pods, err := r.podsOf(key)
	if err != nil {
		return err
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	lo := &corev1.PodLogOptions{Follow: opts.Follow}
	if opts.Tail > 0 {
		tail := int64(opts.Tail)
		lo.TailLines = &tail
	}
	var mu sync.Mutex
	copyPod := func(p *corev1.Pod) error {
		rc, err := r.opts.Client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, lo).Stream(ctx)
		if err != nil {
			return fmt.Errorf("logs of %s: %w", p.Name, err)
		}
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			mu.Lock()
			_, err := fmt.Fprintf(w, "[%s] %s\n", p.Name, sc.Bytes())
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("logs of %s: %w", p.Name, err)
		}
		return nil
	}
	if !opts.Follow {
		for _, p := range pods {
			if err := copyPod(p); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, len(pods))
	for _, p := range pods {
		go func() { errs <- copyPod(p) }()
	}
	var first error
	for range pods {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
