// Package kubetest starts a real Kubernetes control plane on loopback for
// tests: etcd, kube-apiserver, kube-controller-manager and kube-scheduler,
// with KWOK standing in for the kubelet of a fake node, so that
// Deployments, ReplicaSets, pods and EndpointSlices behave as on a real
// cluster while no container runs there. A test stands in for a pod's process by serving HTTP on the
// pod's IP (ServePods): the one fake node's pod CIDR is a /24 of
// 198.18.0.0/15 routed to lo while the tests run, so every pod IP is an
// address this machine answers on and nothing sent to it leaves the
// machine (127.0.0.0/8 cannot be used: EndpointSlices refuse loopback
// addresses). Routing it takes CAP_NET_ADMIN, as root has here and in CI.
//
// One real node can join the KWOK one (Env.RealNode): a kubelet on
// containerd, runc and the CNI bridge plugin, where pods that ask for it
// (RealNode.Pin) really run, pulling their images over plain HTTP from a
// registry on 127.0.0.1 that the harness serves (RealNode.Registry). Its
// pods' IPs are in a /24 of 10.218.0.0/16 on a bridge of its own, which
// this machine reaches directly. It takes root; where the machine lacks
// something it needs, RealNode skips saying what.
//
// The binaries come from hack/kube-testenv.sh (`make kube-testenv`), found
// through $WAKE_KUBE_BIN or the script's cache. Without them a test is
// skipped, or fails with the command to run when WAKE_KUBE_REQUIRED=1.
//
// One control plane serves the whole test binary: the first Start starts
// it (about 4 s) and Main stops it when the tests end. Each test isolates
// itself in a namespace of its own (Env.Namespace).
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
//	func TestScale(t *testing.T) {
//		env := kubetest.Start(t)
//		ns := env.Namespace(t)
//		... env.Client.AppsV1().Deployments(ns).Create(...)
//		env.ServePods(t, ns, "app=hello", 8080, handler)
//	}
//
// This package reads environment variables (WAKE_KUBE_BIN, WAKE_KUBE_CACHE,
// WAKE_KUBE_REQUIRED, and WAKE_KUBE_KEEP to keep the logs of a passing
// run): it is test support, never linked into wake itself.
package kubetest
