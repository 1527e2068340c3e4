package isolation

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// cgroupRoot is where cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroups is the cgroup isolator. For v1, bases maps each controller used
// to <mount>/<agent's path>/agora; for v2 the single key "" does.
type cgroups struct {
	v2    bool
	bases map[string]string
}

// v1 controllers: memory and freezer are required, the others are used
// when mounted.
var (
	v1Required = []string{"memory", "freezer"}
	v1Optional = []string{"cpu", "cpuacct", "pids"}
)

func (c *cgroups) Name() string {
	if c.v2 {
		return "cgroups/v2"
	}
	return "cgroups/v1"
}

// detectCgroups finds a writable cgroup hierarchy: the v2 unified
// hierarchy when /sys/fs/cgroup is one, else the v1 hierarchies.
func detectCgroups() (*cgroups, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return detectV2(own[""])
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	c := &cgroups{bases: map[string]string{}}
	for _, ctl := range append(append([]string(nil), v1Required...), v1Optional...) {
		m, ok := mounts[ctl]
		path, ok2 := own[ctl]
		if !ok || !ok2 {
			continue
		}
		rel, ok := strings.CutPrefix(path, m.root)
		if !ok {
			continue // our cgroup is outside this mount: not usable
		}
		c.bases[ctl] = filepath.Join(m.dir, rel, "agora")
	}
	for _, ctl := range v1Required {
		if c.bases[ctl] == "" {
			return nil, fmt.Errorf("isolation: cgroup v1 %s controller not mounted", ctl)
		}
	}
	for ctl, base := range c.bases {
		if err := probe(base); err != nil {
			if slices.Contains(v1Required, ctl) {
				return nil, err
			}
			delete(c.bases, ctl)
		}
	}
	return c, nil
}

// detectV2 uses <root>/<own>/agora with memory, cpu and pids delegated to
// it. The agent's own cgroup must allow enabling controllers for its
// children (it fails when the agent shares a non-root cgroup with other
// processes that are not in leaves).
func detectV2(own string) (*cgroups, error) {
	dir := filepath.Join(cgroupRoot, own)
	base := filepath.Join(dir, "agora")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("isolation: cgroup v2 not writable: %w", err)
	}
	for _, d := range []string{dir, base} {
		if err := writeFile(filepath.Join(d, "cgroup.subtree_control"), "+memory +cpu +pids"); err != nil {
			return nil, fmt.Errorf("isolation: cannot delegate cgroup v2 controllers in %s: %w", d, err)
		}
	}
	if err := probe(base); err != nil {
		return nil, err
	}
	return &cgroups{v2: true, bases: map[string]string{"": base}}, nil
}

// probes numbers probe cgroups, so that agents of one process (tests)
// probing at once do not share one.
var probes atomic.Int64

// probe checks that base exists (creating it) and can hold children.
func probe(base string) error {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("isolation: cgroup %s not writable: %w", base, err)
	}
	p := filepath.Join(base, fmt.Sprintf("probe-%d-%d", os.Getpid(), probes.Add(1)))
	if err := os.Mkdir(p, 0o755); err != nil {
		return fmt.Errorf("isolation: cgroup %s not writable: %w", base, err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("isolation: cgroup %s: %w", p, err)
	}
	return nil
}

// ownCgroups maps each v1 controller (and "" for v2) to the agent's cgroup
// path, from /proc/self/cgroup.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	own := map[string]string{}
	for line := range strings.Lines(string(data)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			own[ctl] = parts[2]
		}
	}
	return own, nil
}

type mount struct{ dir, root string }

// v1Mounts maps each v1 controller to its mount, from /proc/self/mountinfo.
func v1Mounts() (map[string]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	defer f.Close()
	out := map[string]mount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(qf[2], ",") {
			if _, seen := out[opt]; !seen {
				out[opt] = mount{dir: pf[4], root: pf[3]}
			}
		}
	}
	return out, sc.Err()
}

// cgContainer is one container's cgroups.
type cgContainer struct {
	c    *cgroups
	dirs map[string]string // controller ("" in v2) -> cgroup directory
}

func (c *cgroups) container(id string) *cgContainer {
	cc := &cgContainer{c: c, dirs: map[string]string{}}
	for ctl, base := range c.bases {
		cc.dirs[ctl] = filepath.Join(base, id)
	}
	return cc
}

func (c *cgroups) Create(id string, l Limits) (Container, error) {
	if id == "" || id == "." || id == ".." || strings.Contains(id, "/") {
		return nil, fmt.Errorf("isolation: bad container id %q", id)
	}
	cc := c.container(id)
	for _, d := range cc.dirs {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			_, _ = cc.Destroy()
			return nil, fmt.Errorf("isolation: create cgroup: %w", err)
		}
	}
	if err := cc.Update(l); err != nil {
		_, _ = cc.Destroy()
		return nil, err
	}
	return cc, nil
}

func (c *cgroups) Recover(id string) Container {
	cc := c.container(id)
	if _, err := os.Stat(cc.dir("memory")); err != nil {
		return nil
	}
	return cc
}

// dir is the directory holding a v1 controller's files (the one v2 cgroup
// for any); "" when the controller is not used.
func (cc *cgContainer) dir(ctl string) string {
	if cc.c.v2 {
		return cc.dirs[""]
	}
	return cc.dirs[ctl]
}

func (cc *cgContainer) Exact() bool { return true }

func (cc *cgContainer) Add(pid int) error {
	var errs []error
	for _, d := range cc.dirs {
		errs = append(errs, writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)))
	}
	return errors.Join(errs...)
}

func (cc *cgContainer) Update(l Limits) error {
	var errs []error
	if l.MemBytes > 0 {
		v := strconv.FormatUint(l.MemBytes, 10)
		if cc.c.v2 {
			errs = append(errs, writeFile(filepath.Join(cc.dir("memory"), "memory.max"), v))
		} else {
			errs = append(errs, writeFile(filepath.Join(cc.dir("memory"), "memory.limit_in_bytes"), v))
		}
	}
	if l.CPUs > 0 {
		shares := max(uint64(math.Round(1024*l.CPUs)), 2)
		switch {
		case cc.c.v2:
			// The kernel's own mapping of shares [2, 262144] to weight
			// [1, 10000].
			weight := 1 + (min(shares, 262144)-2)*9999/262142
			errs = append(errs, writeFile(filepath.Join(cc.dir("cpu"), "cpu.weight"), strconv.FormatUint(weight, 10)))
		case cc.dir("cpu") != "":
			errs = append(errs, writeFile(filepath.Join(cc.dir("cpu"), "cpu.shares"), strconv.FormatUint(shares, 10)))
		}
	}
	return errors.Join(errs...)
}

func (cc *cgContainer) OOMKills() int {
	var data []byte
	var err error
	if cc.c.v2 {
		data, err = os.ReadFile(filepath.Join(cc.dir("memory"), "memory.events"))
	} else {
		data, err = os.ReadFile(filepath.Join(cc.dir("memory"), "memory.oom_control"))
	}
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		if k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" ")); ok && string(k) == "oom_kill" {
			n, _ := strconv.Atoi(string(v))
			return n
		}
	}
	return 0
}

func (cc *cgContainer) Memory() (limit, peak uint64) {
	d := cc.dir("memory")
	if cc.c.v2 {
		limit = readUint(filepath.Join(d, "memory.max"))
		peak = readUint(filepath.Join(d, "memory.peak"))
		if peak == 0 {
			peak = readUint(filepath.Join(d, "memory.current"))
		}
		return limit, peak
	}
	return readUint(filepath.Join(d, "memory.limit_in_bytes")), readUint(filepath.Join(d, "memory.max_usage_in_bytes"))
}

// procs lists the pids of the container.
func (cc *cgContainer) procs() []int {
	seen := map[int]bool{}
	var out []int
	for _, d := range cc.dirs {
		data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 && !seen[pid] {
				seen[pid] = true
				out = append(out, pid)
			}
		}
	}
	return out
}

// KillAll freezes the container so that nothing forks while it is being
// killed, SIGKILLs every process and thaws it so that they die.
func (cc *cgContainer) KillAll() int {
	if cc.c.v2 {
		kill := filepath.Join(cc.dirs[""], "cgroup.kill")
		if _, err := os.Stat(kill); err == nil {
			n := len(cc.procs())
			if writeFile(kill, "1") == nil {
				return n
			}
		}
	}
	freeze, thaw := cc.freezer()
	freeze()
	n := 0
	for _, pid := range cc.procs() {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	thaw()
	return n
}

// freezer returns functions freezing and thawing the container; no-ops
// when there is no freezer.
func (cc *cgContainer) freezer() (freeze, thaw func()) {
	nop := func() {}
	if cc.c.v2 {
		f := filepath.Join(cc.dirs[""], "cgroup.freeze")
		if _, err := os.Stat(f); err != nil {
			return nop, nop
		}
		return func() { _ = writeFile(f, "1") }, func() { _ = writeFile(f, "0") }
	}
	d := cc.dir("freezer")
	if d == "" {
		return nop, nop
	}
	state := filepath.Join(d, "freezer.state")
	freeze = func() {
		if writeFile(state, "FROZEN") != nil {
			return
		}
		// FREEZING until every task has stopped; give it a moment.
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(state); strings.TrimSpace(string(b)) == "FROZEN" {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	return freeze, func() { _ = writeFile(state, "THAWED") }
}

// Destroy kills every process of the container until none is left (a
// process may have been forking during a round), then removes its cgroups.
func (cc *cgContainer) Destroy() (int, error) {
	killed := 0
	deadline := time.Now().Add(10 * time.Second)
	for {
		if len(cc.procs()) == 0 {
			break
		}
		killed += cc.KillAll()
		if time.Now().After(deadline) {
			return killed, fmt.Errorf("isolation: processes left in container after SIGKILL: %v", cc.procs())
		}
		time.Sleep(5 * time.Millisecond) // the killed processes exit asynchronously
	}
	var errs []error
	for _, d := range cc.dirs {
		// rmdir can fail with EBUSY for a moment after the last process
		// has left.
		var err error
		for range 200 {
			err = os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		errs = append(errs, err)
	}
	return killed, errors.Join(errs...)
}

func writeFile(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("isolation: write %q to %s: %w", v, path, err)
	}
	return nil
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}
