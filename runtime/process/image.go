package process

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
	"github.com/wakefn/wake/runtime/cgroup"
	"github.com/wakefn/wake/runtime/container"
	"github.com/wakefn/wake/runtime/image"
)

// DefaultContainerPort is the port an image is expected to listen on when
// its manifest names none: Knative's default.
const DefaultContainerPort = 8080

// imageSpec is what the runtime keeps of an image revision's container.
type imageSpec struct {
	ref, policy string
	port        int
	user        *int64 // securityContext.runAsUser
	group       *int64
	nonRoot     bool
	readOnly    bool
	noCaps      bool // capabilities.drop: [ALL]
}

func newImageSpec(c *api.Container) *imageSpec {
	s := &imageSpec{ref: c.Image, policy: c.ImagePullPolicy, port: DefaultContainerPort}
	if len(c.Ports) > 0 && c.Ports[0].ContainerPort > 0 {
		s.port = int(c.Ports[0].ContainerPort)
	}
	if sc := c.SecurityContext; sc != nil {
		s.user, s.group = sc.RunAsUser, sc.RunAsGroup
		s.nonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
		s.readOnly = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		if caps := sc.Capabilities; caps != nil {
			for _, d := range caps.Drop {
				s.noCaps = s.noCaps || strings.EqualFold(d, "ALL")
			}
		}
	}
	return s
}

// limitsOf turns a container's resources.limits into cgroup limits, with
// a pids limit for every instance so that a fork bomb stops at it.
func limitsOf(c *api.Container) cgroup.Limits {
	lim := cgroup.Limits{Pids: DefaultPidsLimit}
	if c.Resources == nil {
		return lim
	}
	if q, ok := c.Resources.Limits["memory"]; ok {
		lim.MemoryBytes = q.Value()
	}
	if q, ok := c.Resources.Limits["cpu"]; ok {
		lim.CPUMillis = q.MilliValue()
	}
	return lim
}

// DefaultPidsLimit bounds the processes and threads of one instance.
const DefaultPidsLimit = 4096

// describeMemory is how a failure quotes a memory limit: "128Mi".
func describeMemory(n int64) string {
	return resource.NewQuantity(n, resource.BinarySI).String()
}

// pull returns the revision's image, resolving and pulling it once; the
// store shares a pull between revisions of one digest. Every outcome is
// reported in State.Image.
func (r *revision) pull(ctx context.Context) (*image.Image, error) {
	rt, is := r.rt, r.spec.image
	r.mu.Lock()
	img := r.img
	r.mu.Unlock()
	if img != nil {
		return img, nil
	}
	if rt.opts.Images == nil || rt.opts.Containers == nil {
		why := rt.opts.ContainersUnavailable
		if why == nil {
			why = errors.New("this wake runs no container engine")
		}
		err := &image.Error{Reason: runtime.ReasonContainersUnavailable, Ref: is.ref, Err: why}
		r.setImage(&runtime.ImageState{Ref: is.ref, Reason: err.Reason, Message: why.Error()})
		return nil, err
	}
	key := r.spec.key.Namespace + "/" + r.spec.key.Name
	digest, err := rt.opts.Images.Resolve(ctx, key, is.ref, is.policy)
	if err == nil {
		r.setImage(&runtime.ImageState{Ref: is.ref, Digest: digest})
		img, err = rt.opts.Images.Get(ctx, is.ref, digest, is.policy)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &runtime.ImageState{Ref: is.ref, Digest: digest}
	if err != nil {
		st.Reason, st.Message = runtime.ReasonImagePullFailed, err.Error()
		var ie *image.Error
		if errors.As(err, &ie) {
			st.Reason = ie.Reason
		}
	} else {
		st.Size, st.Pulled = img.Size, true
		r.img = img
	}
	r.image = st
	r.report()
	return img, err
}

func (r *revision) setImage(st *runtime.ImageState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.image = st
	r.report()
}

// prefetch pulls the image as the revision is deployed, not at its first
// request; a failure is reported in State.Image, and the first instance
// start tries again.
func (r *revision) prefetch() {
	defer r.rt.wg.Done()
	if _, err := r.pull(r.rt.hard); err != nil {
		r.log.Warn("pulling the image", zap.String("image", r.spec.image.ref), zap.Error(err))
	}
}

// containerSpec is the container of one instance of an image revision:
// the image's entrypoint and cmd unless the manifest's command and args
// override them (as Kubernetes does: command replaces both, args only
// cmd), the image's env, then the manifest's, then PORT and the K_*
// variables, the manifest's or the image's working directory and user.
func (s *revSpec) containerSpec(img *image.Image, id string) (container.Spec, error) {
	is := s.image
	cfg := img.Config
	vars := map[string]string{}
	env := append([]string(nil), cfg.Env...)
	hasPath := false
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		vars[k] = v
		hasPath = hasPath || k == "PATH"
	}
	if !hasPath {
		env = append(env, DefaultEnv...)
	}
	injected := [][2]string{
		{"PORT", strconv.Itoa(is.port)},
		{"K_SERVICE", s.function},
		{"K_CONFIGURATION", s.function},
		{"K_REVISION", s.key.Name},
	}
	for _, kv := range injected {
		vars[kv[0]] = kv[1]
	}
	for _, e := range s.env {
		v := expand(e.Value, vars)
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	for _, kv := range injected {
		env = append(env, kv[0]+"="+kv[1])
	}
	entry, cmd := cfg.Entrypoint, cfg.Cmd
	if len(s.command) > 0 {
		entry, cmd = s.command, nil
	}
	if len(s.args) > 0 || len(s.command) > 0 {
		cmd = s.args
	}
	args := append(append([]string(nil), entry...), cmd...)
	for i, a := range args {
		args[i] = expand(a, vars)
	}
	if len(args) == 0 {
		return container.Spec{}, fmt.Errorf("image %s has no entrypoint or cmd, and the manifest no command", is.ref)
	}
	cwd := s.workingDir
	if cwd == "" {
		cwd = cfg.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	uid, gid, err := container.User(img.Rootfs, cfg.User)
	if err != nil {
		return container.Spec{}, fmt.Errorf("image %s: %w", is.ref, err)
	}
	if is.user != nil {
		uid = uint32(*is.user)
	}
	if is.group != nil {
		gid = uint32(*is.group)
	}
	if is.nonRoot && uid == 0 {
		return container.Spec{}, fmt.Errorf("securityContext.runAsNonRoot is true but image %s runs as root (set runAsUser, or a USER in the image)", is.ref)
	}
	return container.Spec{
		ID: id, Rootfs: img.Rootfs, Args: args, Env: env, Cwd: cwd,
		UID: uid, GID: gid, ReadOnlyRoot: is.readOnly, NoCapabilities: is.noCaps,
		Hostname: s.function, Limits: s.limits,
	}, nil
}

// prepareTimeout bounds a container's preparation (network namespace, CNI
// plugins, overlay, bundle), tens of milliseconds when all is well: a
// plugin that hangs fails the start, which is retried with backoff.
const prepareTimeout = 30 * time.Second

// startError is a failure to start with its reason for the revision.
type startError struct{ reason, msg string }

func (e *startError) Error() string { return e.msg }

// prepareContainer pulls the revision's image (once) and prepares the
// instance's container; it returns it with the port it listens on.
func (in *instance) prepareContainer(id string) (*container.Instance, int, error) {
	r := in.rev
	rt, spec := r.rt, r.spec
	img, err := r.pull(rt.hard)
	if err != nil {
		reason := runtime.ReasonImagePullFailed
		var ie *image.Error
		if errors.As(err, &ie) && ie.Reason == runtime.ReasonContainersUnavailable {
			reason = runtime.ReasonContainersUnavailable
		}
		return nil, 0, &startError{reason, err.Error()}
	}
	cs, err := spec.containerSpec(img, id)
	if err != nil {
		return nil, 0, &startError{runtime.ReasonCreateContainerConfig, err.Error()}
	}
	ctx, cancel := context.WithTimeout(rt.hard, prepareTimeout)
	defer cancel()
	ctr, err := rt.opts.Containers.Prepare(ctx, cs)
	if err != nil {
		return nil, 0, &startError{runtime.ReasonStartFailed, "preparing the container: " + err.Error()}
	}
	return ctr, spec.image.port, nil
}
