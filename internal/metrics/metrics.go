// Package metrics exposes a process's /metrics/snapshot facts in the
// Prometheus text format. Master and agent each keep their numbers on their
// own loop; a Collector asks the loop for a fresh snapshot on every scrape
// and maps its Mesos keys ("master/tasks_running") onto Prometheus metrics
// with base units, labels and _total counters
// ("mesos_master_tasks{state="running"}"). Every process has its own
// registry: nothing here is global.
package metrics

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agora-dev/agora/internal/version"
)

// Units a snapshot value is multiplied by to get base units.
const (
	MB           = 1 << 20 // Mesos's mem and disk are in MB; Prometheus wants bytes
	Milliseconds = 1e-3
)

// Mapping turns one snapshot key into one Prometheus sample.
type Mapping struct {
	Key    string               // snapshot key, e.g. "master/mem_used"
	Name   string               // metric name, e.g. "mesos_master_memory_bytes"
	Help   string               // shared by every mapping of Name; the first non-empty one wins
	Type   prometheus.ValueType // prometheus.GaugeValue or prometheus.CounterValue
	Scale  float64              // multiplier to base units; 0 means 1
	Labels []string             // label name, value, name, value, ...
}

// Snapshot reads a process's metrics; it returns an error when the process
// is stopping.
type Snapshot func() (map[string]float64, error)

type family struct {
	desc       *prometheus.Desc
	labelNames []string
}

// Collector is a prometheus.Collector over a Snapshot.
type Collector struct {
	snapshot Snapshot
	mappings []Mapping
	families map[string]*family
	order    []string
}

// NewCollector checks the mappings (every mapping of one name must carry
// the same label names and type) and returns a Collector; a malformed table
// is a programming error and panics.
func NewCollector(snapshot Snapshot, mappings []Mapping) *Collector {
	c := &Collector{snapshot: snapshot, mappings: mappings, families: make(map[string]*family)}
	types := make(map[string]prometheus.ValueType)
	help := make(map[string]string)
	labels := make(map[string][]string)
	for _, m := range mappings {
		if len(m.Labels)%2 != 0 {
			panic(fmt.Sprintf("metrics: %s: odd label list", m.Key))
		}
		var names []string
		for i := 0; i < len(m.Labels); i += 2 {
			names = append(names, m.Labels[i])
		}
		if prev, ok := labels[m.Name]; ok {
			if !slices.Equal(prev, names) || types[m.Name] != m.Type {
				panic(fmt.Sprintf("metrics: %s: labels or type differ from another mapping of %s", m.Key, m.Name))
			}
		} else {
			labels[m.Name] = names
			types[m.Name] = m.Type
			c.order = append(c.order, m.Name)
		}
		if help[m.Name] == "" {
			help[m.Name] = m.Help
		}
	}
	for _, name := range c.order {
		h := help[name]
		if h == "" {
			h = name
		}
		c.families[name] = &family{desc: prometheus.NewDesc(name, h, labels[name], nil), labelNames: labels[name]}
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, name := range c.order {
		ch <- c.families[name].desc
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape. Keys
// missing from the snapshot are left out.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snap, err := c.snapshot()
	if err != nil {
		for _, name := range c.order {
			ch <- prometheus.NewInvalidMetric(c.families[name].desc, err)
		}
		return
	}
	for _, m := range c.mappings {
		v, ok := snap[m.Key]
		if !ok {
			continue
		}
		if m.Scale != 0 {
			v *= m.Scale
		}
		var values []string
		for i := 1; i < len(m.Labels); i += 2 {
			values = append(values, m.Labels[i])
		}
		ch <- prometheus.MustNewConstMetric(c.families[m.Name].desc, m.Type, v, values...)
	}
}

// Keys lists the snapshot keys the mappings read.
func Keys(mappings []Mapping) []string {
	out := make([]string, 0, len(mappings))
	for _, m := range mappings {
		out = append(out, m.Key)
	}
	return out
}

// Handler serves /metrics from a new registry holding c, the build info
// (mesos_build_info) and the Go runtime and process collectors.
func Handler(c prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		c,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mesos_build_info",
			Help: "Always 1; the labels name the build.",
			ConstLabels: prometheus.Labels{
				"version":       version.Mesos, // the Mesos API version Agora speaks
				"agora_version": version.Agora,
				"goversion":     runtime.Version(),
			},
		}, func() float64 { return 1 }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
}

// Gauge, Counter and helpers keep mapping tables short.

// Gauge maps key onto a gauge.
func Gauge(key, name, help string, labels ...string) Mapping {
	return Mapping{Key: key, Name: name, Help: help, Type: prometheus.GaugeValue, Labels: labels}
}

// Counter maps key onto a counter; name should end in _total.
func Counter(key, name, help string, labels ...string) Mapping {
	return Mapping{Key: key, Name: name, Help: help, Type: prometheus.CounterValue, Labels: labels}
}

// Scaled returns m with values multiplied by scale.
func (m Mapping) Scaled(scale float64) Mapping {
	m.Scale = scale
	return m
}

// Resources maps <prefix>/{cpus,mem,disk,gpus}_<kind> for each kind onto
// <name>_cpus, <name>_memory_bytes, <name>_disk_bytes and <name>_gpus
// with a label type=<kind>.
func Resources(prefix, name string, kinds ...string) []Mapping {
	var out []Mapping
	for _, k := range kinds {
		out = append(out,
			Gauge(prefix+"/cpus_"+k, name+"_cpus", "CPUs, by type (total, used, offered, ...).", "type", k),
			Gauge(prefix+"/mem_"+k, name+"_memory_bytes", "Memory in bytes, by type (total, used, offered, ...).", "type", k).Scaled(MB),
			Gauge(prefix+"/disk_"+k, name+"_disk_bytes", "Disk in bytes, by type (total, used, offered, ...).", "type", k).Scaled(MB),
			Gauge(prefix+"/gpus_"+k, name+"_gpus", "GPUs, by type (total, used, offered, ...).", "type", k),
		)
	}
	return out
}

// SystemMappings map the system/* keys of System.
func SystemMappings() []Mapping {
	return []Mapping{
		Gauge("system/cpus_total", "mesos_system_cpus", "CPUs of the host."),
		Gauge("system/load_1min", "mesos_system_load", "Load average of the host.", "period", "1m"),
		Gauge("system/load_5min", "mesos_system_load", "", "period", "5m"),
		Gauge("system/load_15min", "mesos_system_load", "", "period", "15m"),
		Gauge("system/mem_total_bytes", "mesos_system_memory_bytes", "Memory of the host in bytes.", "type", "total"),
		Gauge("system/mem_free_bytes", "mesos_system_memory_bytes", "", "type", "free"),
	}
}
