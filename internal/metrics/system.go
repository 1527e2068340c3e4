package metrics

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// System adds Mesos's system/* keys to a snapshot: the host's CPUs, load
// averages and memory. Values the host does not expose (no /proc) are left
// out.
func System(out map[string]float64) {
	out["system/cpus_total"] = float64(runtime.NumCPU())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		for i, key := range []string{"system/load_1min", "system/load_5min", "system/load_15min"} {
			if i < len(f) {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					out[key] = v
				}
			}
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		var key string
		switch name {
		case "MemTotal":
			key = "system/mem_total_bytes"
		case "MemAvailable":
			key = "system/mem_free_bytes"
		default:
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64); err == nil {
			out[key] = v * 1024
		}
	}
}
