package kubestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/wakefn/wake/eventing/cron"
)

// CronRecords keeps the cron triggers' fire records (which scheduled
// times were started and settled) in one ConfigMap, so that the leader
// that takes over fires what its predecessor was cut off from and does
// not skip the fires due while no one led: at least once, across a
// failover as across a restart of wake serve.
type CronRecords struct {
	client          dynamic.Interface
	namespace, name string
}

var _ cron.Store = (*CronRecords)(nil)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// cronTimeout bounds a record's read or write: the scheduler waits for
// it, and during an API server outage a fire must go on (the record is
// then the last one saved, so a fire may be repeated, never lost).
const cronTimeout = 2 * time.Second

// CronRecords keeps the cron records in the ConfigMap namespace/name,
// created on the first save; a trigger deleted through the store loses
// its record with it.
func (s *Store) CronRecords(namespace, name string) *CronRecords {
	s.cron = &CronRecords{client: s.client, namespace: namespace, name: name}
	return s.cron
}

// cronKey turns a trigger's "namespace/name" into a ConfigMap key, which
// may not hold a slash; a namespace holds no dot, so the first dot
// separates them again.
func cronKey(trigger string) string { return strings.Replace(trigger, "/", ".", 1) }

// Load implements cron.Store.
func (c *CronRecords) Load(trigger string) (cron.Record, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cronTimeout)
	defer cancel()
	var r cron.Record
	cm, err := c.client.Resource(configMaps).Namespace(c.namespace).Get(ctx, c.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("reading cron records %s/%s: %w", c.namespace, c.name, err)
	}
	v, ok, _ := unstructured.NestedString(cm.Object, "data", cronKey(trigger))
	if !ok {
		return r, false, nil
	}
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return r, false, fmt.Errorf("cron record of %s in %s/%s: %w", trigger, c.namespace, c.name, err)
	}
	return r, true, nil
}

// Save implements cron.Store: one key of the ConfigMap, merged in.
func (c *CronRecords) Save(trigger string, r cron.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.merge(trigger, string(b))
}

// delete forgets a trigger's record: a trigger created later under the
// same name starts afresh rather than catching up on the old one's fires.
func (c *CronRecords) delete(trigger string) error { return c.merge(trigger, nil) }

// merge sets one key (nil removes it).
func (c *CronRecords) merge(trigger string, value any) error {
	data := map[string]any{cronKey(trigger): value}
	ctx, cancel := context.WithTimeout(context.Background(), cronTimeout)
	defer cancel()
	res := c.client.Resource(configMaps).Namespace(c.namespace)
	patch, _ := json.Marshal(map[string]any{"data": data})
	_, err := res.Patch(ctx, c.name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) && value == nil {
		return nil
	}
	if apierrors.IsNotFound(err) {
		cm := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": c.name, "namespace": c.namespace,
				"labels": map[string]any{"app.kubernetes.io/part-of": "wake"}},
			"data": data,
		}}
		_, err = res.Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // another save created it meanwhile
			_, err = res.Patch(ctx, c.name, types.MergePatchType, patch, metav1.PatchOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("writing the cron record of %s in %s/%s: %w", trigger, c.namespace, c.name, err)
	}
	return nil
}
