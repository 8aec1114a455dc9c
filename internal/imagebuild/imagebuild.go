// Package imagebuild builds OCI images from files without a Docker daemon:
// one layer holding the files given, on an empty base, with a runtime
// config. `make image` builds wake's own image with it, and tests build
// the function images they push to an in-process registry.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one file of the layer. Exactly one of Data, Source or Link is
// used: the content, a file on this machine to copy, or a symlink target;
// or, with Dir, none: a directory (such as /tmp with mode 01777).
type File struct {
	Dir    bool
	Path   string // absolute, e.g. /ko-app/wake
	Mode   int64  // permission bits; 0 means 0644 (0755 for Source files that are executable)
	UID    int
	GID    int
	Data   []byte
	Source string
	Link   string
}

// epoch is every entry's modification time, so that the same files make
// the same digest (reproducible images).
var epoch = time.Unix(0, 0).UTC()

// Image returns an image with one layer of files (their parent directories
// added) and cfg as its config, for os/arch.
func Image(files []File, cfg v1.Config, arch string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	explicit := map[string]bool{} // directories given as Files
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		if f.Dir {
			explicit[f.Path] = true
		}
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("file %q: path must be absolute", f.Path)
		}
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			if dirs[d] {
				break
			}
			dirs[d] = true
		}
	}
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList) // parents first
	for _, d := range dirList {
		if explicit[d] {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.Path[1:], Mode: f.Mode, Uid: f.UID, Gid: f.GID, ModTime: epoch}
		data := f.Data
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
			if hdr.Mode == 0 {
				hdr.Mode = 0o755
			}
			dirs[f.Path] = true
		case f.Link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Link
			if hdr.Mode == 0 {
				hdr.Mode = 0o777
			}
		case f.Source != "":
			b, err := os.ReadFile(f.Source)
			if err != nil {
				return nil, err
			}
			data = b
			if hdr.Mode == 0 {
				hdr.Mode = 0o644
				if fi, err := os.Stat(f.Source); err == nil && fi.Mode()&0o111 != 0 {
					hdr.Mode = 0o755
				}
			}
			fallthrough
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
			if hdr.Mode == 0 {
				hdr.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", arch, cfg
	cf.Created = v1.Time{Time: epoch}
	return mutate.ConfigFile(img, cf)
}
