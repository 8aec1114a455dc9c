package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/wakefn/wake/runtime/cgroup"
)

// record is what wake keeps on disk of a live instance's process group, so
// that a later wake can kill it if this one dies without stopping it.
// Pdeathsig kills the instance itself when wake dies, but not its
// children, which may keep running, holding ports and files.
type record struct {
	PID       int    `json:"pid"`       // the group leader; the group's id
	StartTime uint64 `json:"startTime"` // field 22 of /proc/PID/stat: with PID, names one process ever
	Namespace string `json:"namespace"`
	Revision  string `json:"revision"`
	Instance  string `json:"instance"`
}

// records is the directory of records, one PID.json per live instance (a
// pid names one live process, so names never clash).
type records struct {
	dir string
}

func (rs records) path(pid int) string {
	return filepath.Join(rs.dir, strconv.Itoa(pid)+".json")
}

// write stores rec atomically (a temporary file renamed into place).
func (rs records) write(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := rs.path(rec.PID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, rs.path(rec.PID))
}

func (rs records) remove(pid int) {
	_ = os.Remove(rs.path(pid))
}

// killOrphans SIGKILLs the process groups recorded by a previous wake that
// are still alive, then deletes the records. A group's leader is
// identified by pid and start time, so a recycled pid is never killed.
// When the leader is gone, the group's other members are found under
// /proc by their group id and killed if they started no earlier than the
// leader did. (When the leader's pid is alive but names another process,
// the old group is empty: Linux does not reuse a pid still in use as a
// group id.)
func (rs records) killOrphans(log *zap.Logger) {
	entries, err := os.ReadDir(rs.dir)
	if err != nil {
		log.Warn("reading instance records", zap.Error(err))
		return
	}
	var recs []record
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(rs.dir, name)
		switch {
		case strings.HasSuffix(name, ".json.tmp"):
			_ = os.Remove(path)
			continue
		case !strings.HasSuffix(name, ".json"):
			continue
		}
		var rec record
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil || rec.PID <= 1 {
			log.Warn("skipping a malformed instance record", zap.String("path", path), zap.Error(err))
			_ = os.Remove(path)
			continue
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return
	}
	var procs map[int]procStat // every process, read once if a leader is gone
	for _, rec := range recs {
		fields := []zap.Field{zap.String("namespace", rec.Namespace), zap.String("revision", rec.Revision),
			zap.String("instance", rec.Instance), zap.Int("pgid", rec.PID)}
		st, err := readStat(rec.PID)
		switch {
		case err == nil && st.startTime == rec.StartTime:
			if err := syscall.Kill(-rec.PID, syscall.SIGKILL); err == nil {
				log.Info("killed an orphaned instance", fields...)
			}
		case err == nil:
			// The pid was recycled: the recorded group has no member left.
		default:
			if procs == nil {
				procs = allProcs()
			}
			n := 0
			for pid, st := range procs {
				if st.pgrp == rec.PID && st.startTime >= rec.StartTime && syscall.Kill(pid, syscall.SIGKILL) == nil {
					n++
				}
			}
			if n > 0 {
				log.Info("killed an orphaned instance's processes", append(fields, zap.Int("processes", n))...)
			}
		}
		rs.remove(rec.PID)
	}
}

// allProcs reads the stat of every process.
func allProcs() map[int]procStat {
	procs := map[int]procStat{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return procs
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			procs[pid] = st
		}
	}
	return procs
}

// lockDir takes an exclusive flock on dir/lock, held by the returned file
// for as long as it stays open (the kernel drops it when wake dies, however
// it dies). Two Runtimes on one state directory would kill each other's
// instances as orphans.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("process runtime: state directory %s is in use by another wake", filepath.Dir(dir))
		}
		return nil, fmt.Errorf("process runtime: locking %s: %w", dir, err)
	}
	return f, nil
}

// killOrphanGroups kills what is left in the instances' control groups
// under parent (a wake SIGKILLed: processes that left their process group
// survive it) and removes the groups.
func killOrphanGroups(parent string, log *zap.Logger) {
	for _, name := range cgroup.List(parent) {
		g := cgroup.Open(parent, name)
		n := len(g.Procs())
		err := errors.Join(g.Kill(groupWait), g.Remove())
		log.Info("killed the cgroup of an instance left by a previous wake", zap.String("instance", name), zap.Int("processes", n), zap.Error(err))
	}
}
