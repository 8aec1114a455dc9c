package main

import (
	"path/filepath"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/wakefn/wake/runtime/container"
	"github.com/wakefn/wake/runtime/image"
)

// containerFlags configure how wake serve runs image revisions.
type containerFlags struct {
	runc   string
	subnet string
	bridge string
}

func (c *containerFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&c.runc, "runc", "runc", "the OCI runtime that runs image revisions as containers")
	f.StringVar(&c.subnet, "container-subnet", container.DefaultSubnet, "addresses of containers, on the host bridge --container-bridge")
	f.StringVar(&c.bridge, "container-bridge", container.DefaultBridge, "the host bridge containers are attached to")
}

// open returns the image store and the container engine under stateDir,
// or, when this machine cannot run containers (not root, no runc, no CNI
// plugins), nils and the reason, which image revisions then report as
// ContainersUnavailable: commands run either way.
func (c *containerFlags) open(stateDir string, log *zap.Logger) (*image.Store, *container.Engine, error) {
	images, err := image.Open(image.Options{Dir: filepath.Join(stateDir, "images"), Logger: log.Named("images")})
	if err != nil {
		return nil, nil, err
	}
	engine, err := container.New(container.Options{
		StateDir: filepath.Join(stateDir, "containers"),
		Runc:     c.runc, Subnet: c.subnet, Bridge: c.bridge,
		Logger: log.Named("containers"),
	})
	if err != nil {
		log.Warn("image revisions cannot run on this machine; commands can", zap.Error(err))
		return nil, nil, err
	}
	return images, engine, nil
}
