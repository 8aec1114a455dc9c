// Command pause is the sandbox ("pause") container of the real node that
// internal/kubetest starts: containerd runs it first in every pod to hold
// the pod's namespaces. No registry is reachable from the test machines,
// so the harness builds this image itself instead of pulling
// registry.k8s.io/pause. Like the real one it sleeps until SIGINT or
// SIGTERM and reaps the children it inherits as PID 1 of a shared PID
// namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
