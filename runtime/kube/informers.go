package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	api "github.com/wakefn/wake/api/v1"
)

// revisionInformers watch what both the Runtime and the Watcher read: the
// pods and EndpointSlices labelled wake.dev/revision.
type revisionInformers struct {
	factory informers.SharedInformerFactory
	pods    corelisters.PodLister
	slices  discoverylisters.EndpointSliceLister
	synced  []cache.InformerSynced
}

// watchRevisions sets the informers up, calling changed with the revision
// of every pod or slice that changes; start them with factory.Start.
func watchRevisions(client kubernetes.Interface, namespace string, onChange func(api.RevisionKey)) (revisionInformers, error) {
	changed := func(obj any) {
		if key, ok := revisionOf(obj); ok {
			onChange(key)
		}
	}
	var ri revisionInformers
	ri.factory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelRevision }))
	podInf := ri.factory.Core().V1().Pods()
	sliceInf := ri.factory.Discovery().V1().EndpointSlices()
	ri.pods, ri.slices = podInf.Lister(), sliceInf.Lister()
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		UpdateFunc: func(_, obj any) { changed(obj) },
		DeleteFunc: changed,
	}
	if _, err := podInf.Informer().AddEventHandler(handler); err != nil {
		return ri, fmt.Errorf("watching pods: %w", err)
	}
	if _, err := sliceInf.Informer().AddEventHandler(handler); err != nil {
		return ri, fmt.Errorf("watching EndpointSlices: %w", err)
	}
	ri.synced = []cache.InformerSynced{podInf.Informer().HasSynced, sliceInf.Informer().HasSynced}
	return ri, nil
}

// revisionOf is the revision a pod or an EndpointSlice belongs to.
func revisionOf(obj any) (api.RevisionKey, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	var key api.RevisionKey
	switch o := obj.(type) {
	case *corev1.Pod:
		key = api.RevisionKey{Namespace: o.Namespace, Name: o.Labels[LabelRevision]}
	case *discoveryv1.EndpointSlice:
		// The revision's Service is named after it.
		key = api.RevisionKey{Namespace: o.Namespace, Name: o.Labels[discoveryv1.LabelServiceName]}
	}
	return key, key.Name != ""
}
