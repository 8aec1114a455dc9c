package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/controlplane/boltstore"
)

// wake serve refuses a damaged store with one line that names the file,
// what was found and the command that restores the latest snapshot; that
// command brings the function back.
func TestOpenStoreAdvisesRestore(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, storeFlags{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx controlplane.Tx) error {
		return tx.PutFunction(&api.Function{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	snap, _, _ := boltstore.LatestGoodSnapshot(filepath.Join(dir, "snapshots"))
	path := filepath.Join(dir, "wake.db")
	os.Truncate(path, 0)

	_, err = openStore(dir, storeFlags{}, zap.NewNop())
	if err == nil {
		t.Fatal("a store truncated to 0 bytes opened")
	}
	msg := err.Error()
	for _, want := range []string{path + " is damaged (the file is empty: 0 bytes)", "will not start over it",
		"`wake serve --state-dir " + dir + " --restore-from " + snap.Path + "`", "1 function)", "move the file away"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q is more than one line", msg)
	}

	s, err = openStore(dir, storeFlags{restoreFrom: snap.Path}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var fns []*api.Function
	s.View(func(tx controlplane.Tx) error { fns, err = tx.Functions(); return err })
	if len(fns) != 1 || fns[0].Name != "hello" {
		t.Errorf("restored store holds %v, want hello", fns)
	}
}

// With no snapshot to restore, the message says so.
func TestOpenStoreWithNoSnapshot(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "wake.db"), nil, 0o600)
	_, err := openStore(dir, storeFlags{}, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "No good snapshot is in "+filepath.Join(dir, "snapshots")) {
		t.Errorf("got %v, want it to say there is no snapshot", err)
	}
}

// --restore-from refuses a damaged snapshot and leaves the store alone.
func TestRestoreFromDamagedSnapshot(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(t.TempDir(), "wake-20250102T150405.000Z.db")
	os.WriteFile(bad, make([]byte, 8192), 0o600)
	_, err := openStore(dir, storeFlags{restoreFrom: bad}, zap.NewNop())
	if err == nil || !strings.HasPrefix(err.Error(), "--restore-from: "+bad+" is damaged (") {
		t.Errorf("got %v, want --restore-from to refuse %s as damaged", err, bad)
	}
	if _, err := os.Stat(filepath.Join(dir, "wake.db")); err == nil {
		t.Error("a store was made from the damaged snapshot")
	}
}
