package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// extract writes the flattened filesystem tar r into root, which it
// creates. Every path, and every symlink met on the way to it, is resolved
// inside root (securejoin), so an entry can never write outside it: an
// image may hold /lib -> usr/lib and then lib/x.so (written to usr/lib/x.so),
// but not a symlink to /etc followed by etc/passwd on the host. Ownership
// and mode are kept (wake runs as root); device nodes are skipped, as the
// OCI runtime gives the container its own /dev.
func extract(r io.Reader, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	type dirMode struct {
		path string
		mode os.FileMode
	}
	var dirs []dirMode // modes applied last: a read-only dir must stay writable while filled
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rel := path.Clean("/" + hdr.Name)
		if rel == "/" {
			continue
		}
		parent, err := securejoin.SecureJoin(root, path.Dir(rel))
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		target := filepath.Join(parent, path.Base(rel))
		mode := os.FileMode(hdr.Mode&0o777) | setBits(hdr.Mode)
		if hdr.Typeflag != tar.TypeDir {
			if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
				if err := os.RemoveAll(target); err != nil {
					return fmt.Errorf("%s: %w", hdr.Name, err)
				}
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
				_ = os.Remove(target)
			}
			if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
			dirs = append(dirs, dirMode{target, mode})
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
		case tar.TypeLink:
			src, err := securejoin.SecureJoin(root, path.Clean("/"+hdr.Linkname))
			if err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
			if err := os.Link(src, target); err != nil {
				return fmt.Errorf("%s: hard link to %s: %w", hdr.Name, hdr.Linkname, err)
			}
			continue // shares the source's owner and mode
		default:
			continue // devices, fifos: the OCI runtime makes /dev
		}
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil && !errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			// After chown, which clears set-id bits.
			if err := os.Chmod(target, mode); err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode); err != nil {
			return err
		}
	}
	return nil
}

func setBits(m int64) os.FileMode {
	var out os.FileMode
	if m&04000 != 0 {
		out |= os.ModeSetuid
	}
	if m&02000 != 0 {
		out |= os.ModeSetgid
	}
	if m&01000 != 0 {
		out |= os.ModeSticky
	}
	return out
}
