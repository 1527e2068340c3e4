package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Sandbox garbage collection, as Mesos's slave/gc.cpp and its callers in
// slave.cpp:
//
//   - when an executor run ends, its run directory (the sandbox,
//     .../executors/<eid>/runs/<cid>) and its executor directory are
//     scheduled for removal GCDelay later; a new run of the same executor
//     id unschedules the executor directory;
//   - when a framework is removed (nothing of it runs and no update is
//     pending), its framework directory is scheduled GCDelay later; a new
//     task of the framework unschedules it;
//   - every DiskWatchInterval the agent measures the disk usage u of the
//     filesystem holding WorkDir (statfs) and removes at once every path
//     older than the maximum allowed age
//     GCDelay * max(0, 1 - GCDiskHeadroom - u), oldest first;
//   - on recovery, the directories already on disk that nothing running
//     needs are scheduled GCDelay after their mtime, so what is due goes
//     promptly.
//
// A path is removed only if, at that moment, no live executor's sandbox is
// inside it or contains it and no live framework's directory is it or
// inside it; the checkpoint (<work_dir>/meta) and the fetcher cache are
// never candidates (only paths below <work_dir>/slaves are). Removals run
// off the loop under Agent.gcMu, which launches also hold while they create
// a sandbox, so a removal never races a new run into the same directory.

// gcScheduler is the pure core: paths with their removal times. It has no
// clock and no goroutines; the loop owns it.
type gcScheduler struct {
	at map[string]time.Time // path → removal time
}

func newGCScheduler() *gcScheduler { return &gcScheduler{at: make(map[string]time.Time)} }

// schedule sets path's removal time, replacing an earlier one.
func (g *gcScheduler) schedule(path string, at time.Time) { g.at[path] = at }

// unschedule forgets path; it reports whether it was scheduled.
func (g *gcScheduler) unschedule(path string) bool {
	_, ok := g.at[path]
	delete(g.at, path)
	return ok
}

// pending is the number of scheduled paths.
func (g *gcScheduler) pending() int { return len(g.at) }

// next is the earliest removal time.
func (g *gcScheduler) next() (time.Time, bool) {
	var first time.Time
	ok := false
	for _, t := range g.at {
		if !ok || t.Before(first) {
			first, ok = t, true
		}
	}
	return first, ok
}

// take unschedules and returns the paths whose removal time is at most
// within after now (Mesos's prune: remaining removal time <= within),
// earliest first (ties by path, parents before their children).
func (g *gcScheduler) take(now time.Time, within time.Duration) []string {
	var out []string
	for p, t := range g.at {
		if t.Sub(now) <= within {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := g.at[a].Compare(g.at[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, p := range out {
		delete(g.at, p)
	}
	return out
}

// gcMaxAge is Mesos's maximum allowed age of an executor directory at disk
// usage u (0..1): gc_delay * max(0, 1 - headroom - u).
func gcMaxAge(delay time.Duration, headroom, usage float64) time.Duration {
	return time.Duration(float64(delay) * max(0.0, 1.0-headroom-usage))
}

// gcPruneWithin is what a disk check prunes: every path whose remaining
// removal time is at most gc_delay - max age, i.e. every path scheduled
// (gc_delay before its removal time) at least max age ago.
func gcPruneWithin(delay time.Duration, headroom, usage float64) time.Duration {
	return delay - gcMaxAge(delay, headroom, usage)
}

// diskUsage is the used fraction of the filesystem holding path, as
// Mesos's fs::usage: (blocks - free blocks) / blocks.
func diskUsage(path string) (float64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	if st.Blocks == 0 {
		return 0, nil
	}
	return float64(st.Blocks-st.Bfree) / float64(st.Blocks), nil
}

// gcStats are the gc/* metrics.
type gcStats struct {
	succeeded, failed int
	removing          int // claimed and not yet removed
	busy              bool
	again             time.Duration // a collection asked for while busy; <0 none
	timer             *time.Timer
}

// under reports whether p is strictly inside dir.
func under(p, dir string) bool {
	return len(p) > len(dir) && strings.HasPrefix(p, dir) && p[len(dir)] == filepath.Separator
}

func (a *Agent) frameworkDir(agentID, fwID string) string {
	return filepath.Join(a.cfg.WorkDir, "slaves", agentID, "frameworks", fwID)
}

// gcSchedule schedules path's removal GCDelay after from; on the loop.
func (s *state) gcSchedule(path string, from time.Time) {
	s.gc.schedule(path, from.Add(s.a.cfg.GCDelay))
	s.gcArm()
}

// gcUnschedule keeps path: something runs in it again.
func (s *state) gcUnschedule(path string) {
	if s.gc.unschedule(path) {
		s.gcArm()
	}
}

// gcExecutorEnded schedules an ended executor run's sandbox and its
// executor directory.
func (s *state) gcExecutorEnded(e *executor) {
	if e.directory == "" {
		return
	}
	now := time.Now()
	s.gcSchedule(e.directory, now)
	s.gcSchedule(filepath.Dir(filepath.Dir(e.directory)), now)
}

// gcArm sets the timer of the earliest removal.
func (s *state) gcArm() {
	if s.gcs.timer != nil {
		s.gcs.timer.Stop()
		s.gcs.timer = nil
	}
	at, ok := s.gc.next()
	if !ok {
		return
	}
	s.gcs.timer = s.a.afterFunc(max(0, time.Until(at)), func() { s.gcCollect(0) })
}

// gcDiskCheck prunes for the measured disk usage; on the loop.
func (s *state) gcDiskCheck(usage float64) {
	c := s.a.cfg
	within := gcPruneWithin(c.GCDelay, c.GCDiskHeadroom, usage)
	s.a.log.Debug("disk usage", "usage", usage, "max_allowed_age", gcMaxAge(c.GCDelay, c.GCDiskHeadroom, usage))
	s.gcCollect(within)
}

// gcCollect removes, off the loop, the paths due within the given time;
// one collection at a time.
func (s *state) gcCollect(within time.Duration) {
	if s.gcs.busy {
		s.gcs.again = max(s.gcs.again, within)
		return
	}
	s.gcs.busy = true
	go s.a.gcRemove(within)
}

// gcRemove claims the due paths on the loop and removes them. It holds
// gcMu from the claim to the last removal.
func (a *Agent) gcRemove(within time.Duration) {
	a.gcMu.Lock()
	defer a.gcMu.Unlock()
	var paths []string
	if !a.do(context.Background(), func() { paths = a.st.gcClaim(time.Now(), within) }) {
		return
	}
	errs := make([]error, len(paths))
	for i, p := range paths {
		errs[i] = os.RemoveAll(p) // a path already gone is a success, as in Mesos
	}
	a.post(func() { a.st.gcRemoved(paths, errs) })
}

// gcClaim takes the due paths that are safe to remove.
func (s *state) gcClaim(now time.Time, within time.Duration) []string {
	var out []string
	for _, p := range s.gc.take(now, within) {
		if why := s.gcKeep(p); why != "" {
			s.a.log.Info("not removing a sandbox path", "path", p, "why", why)
			continue
		}
		out = append(out, p)
	}
	s.gcs.removing += len(out)
	return out
}

// gcKeep says why path must not be removed now, or "".
func (s *state) gcKeep(p string) string {
	slaves := filepath.Join(s.a.cfg.WorkDir, "slaves")
	if filepath.Clean(p) != p || !under(p, slaves) {
		return "not below " + slaves
	}
	for _, f := range s.frameworks {
		if s.agentID != "" {
			if d := s.a.frameworkDir(s.agentID, f.id); d == p || under(d, p) {
				return "framework " + f.id + " is active"
			}
		}
		for _, e := range f.executors {
			if d := e.directory; d == p || under(d, p) || under(p, d) {
				return "executor " + e.id + " is running"
			}
		}
	}
	return ""
}

// gcRemoved records a collection's outcome and runs the next.
func (s *state) gcRemoved(paths []string, errs []error) {
	s.gcs.removing -= len(paths)
	for i, p := range paths {
		if errs[i] != nil {
			s.gcs.failed++
			s.a.log.Warn("removing a sandbox path failed", "path", p, "err", errs[i])
			continue
		}
		s.gcs.succeeded++
		s.a.files.Detach(p)
		s.a.owners.remove(p)
		s.a.log.Info("removed a sandbox path", "path", p)
	}
	s.gcs.busy = false
	if w := s.gcs.again; w >= 0 {
		s.gcs.again = -1
		s.gcCollect(w)
	}
	s.gcArm()
}

// gcRecover schedules what a previous run left in <work_dir>/slaves and
// nothing running needs, GCDelay after its last change: a run directory's
// mtime; for an executor, framework or (previous) agent directory the
// latest mtime of itself and what it holds down to the run directories,
// since a directory's own mtime only tells when its first child was made.
// It runs after recovery, before the loop starts.
func (s *state) gcRecover() {
	live := map[string]bool{}     // run directories of live executors
	liveExec := map[string]bool{} // their executor directories
	liveFw := map[string]bool{}   // framework directories of live frameworks
	for _, f := range s.frameworks {
		if s.agentID != "" {
			liveFw[s.a.frameworkDir(s.agentID, f.id)] = true
		}
		for _, e := range f.executors {
			live[e.directory] = true
			liveExec[filepath.Dir(filepath.Dir(e.directory))] = true
		}
	}
	mtime := func(p string) time.Time {
		if fi, err := os.Lstat(p); err == nil {
			return fi.ModTime()
		}
		return time.Time{}
	}
	subdirs := func(dir string) []string {
		des, _ := os.ReadDir(dir)
		var out []string
		for _, de := range des {
			if de.IsDir() { // not the runs/latest symlink
				out = append(out, filepath.Join(dir, de.Name()))
			}
		}
		return out
	}
	later := func(a, b time.Time) time.Time {
		if b.After(a) {
			return b
		}
		return a
	}
	sched := func(p string, t time.Time, keep bool) {
		if !keep {
			s.gc.schedule(p, t.Add(s.a.cfg.GCDelay))
		}
	}
	for _, sd := range subdirs(filepath.Join(s.a.cfg.WorkDir, "slaves")) {
		st := later(mtime(sd), mtime(filepath.Join(sd, "frameworks")))
		for _, fd := range subdirs(filepath.Join(sd, "frameworks")) {
			ft := later(mtime(fd), mtime(filepath.Join(fd, "executors")))
			for _, ed := range subdirs(filepath.Join(fd, "executors")) {
				et := later(mtime(ed), mtime(filepath.Join(ed, "runs")))
				for _, rd := range subdirs(filepath.Join(ed, "runs")) {
					rt := mtime(rd)
					sched(rd, rt, live[rd])
					et = later(et, rt)
				}
				sched(ed, et, liveExec[ed])
				ft = later(ft, et)
			}
			sched(fd, ft, liveFw[fd])
			st = later(st, ft)
		}
		// A previous agent id's directory: nothing of it is recovered.
		sched(sd, st, filepath.Base(sd) == s.agentID)
	}
	if n := s.gc.pending(); n > 0 {
		s.a.log.Info("sandbox paths scheduled for garbage collection after recovery", "paths", n)
	}
	s.gcArm()
}

// watchDisk checks the disk usage of WorkDir every DiskWatchInterval (and
// once at start) until ctx ends.
func (a *Agent) watchDisk(ctx context.Context) {
	t := time.NewTicker(a.cfg.DiskWatchInterval)
	defer t.Stop()
	for {
		if u, err := diskUsage(a.cfg.WorkDir); err != nil {
			a.log.Warn("cannot measure the disk usage of work_dir", "work_dir", a.cfg.WorkDir, "err", err)
		} else {
			a.post(func() { a.st.gcDiskCheck(u) })
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
