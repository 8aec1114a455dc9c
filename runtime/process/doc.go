// Package process is wake's local runtime: it runs each revision's
// instances as child processes of wake on this machine: the revision's
// command, or, for a revision with only an image, `runc run` of a
// container (runtime/container) of the image, pulled and pinned to its
// digest when the revision is deployed (runtime/image). A container is
// supervised exactly as a command is; only its address (its own network
// namespace, at the image's containerPort) and its create phase differ.
//
// It owns an instance's whole life: choosing its loopback port, forking it
// into its own process group, probing it (its startupProbe first, when it
// has one, then its readiness), sending the revision's warm-up requests
// before it takes traffic, timing each phase of its start, reporting every
// change to the Observer, replacing it with exponential backoff when it
// dies or fails to start, draining and stopping it on scale-down, and
// keeping its output in bounded log files under the state directory. It
// also makes sure no instance outlives wake: children die with wake's
// forking thread (Pdeathsig), whole process groups are killed on stop, and
// the groups left behind by a wake that was SIGKILLed are killed by the
// next New. As root, every instance also has a control group of its own
// (runtime/cgroup) with its resources.limits and a pids limit: a command
// is forked into it, so that its children die with it even when they
// left its process group (setsid), and a kill at the memory limit is
// reported as OOMKilled.
//
// Liveness probes are accepted in manifests but not run: an instance is
// replaced when it exits, and leaves Ready while its readiness probe fails.
//
// Layout under Options.StateDir:
//
//	logs/NAMESPACE/REVISION/INSTANCE.log    an instance's stdout and stderr
//	logs/NAMESPACE/REVISION/INSTANCE.log.1  the part rotated out at LogLimit
//	instances/PID.json                      a live instance's process group
//	instances/lock                          held by the one Runtime using the dir
package process
