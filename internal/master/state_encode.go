package master

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
)

// The bulk of /master/state is its tasks: they are appended as JSON
// bytes directly, on the loop, instead of being built as maps and
// marshalled (200,000 tasks took 3 s and 700 MB of garbage that way). The
// output is byte for byte what encoding/json makes of the v0 model
// (state_encode_test.go checks it against the map form).

// appendTasks appends the JSON array of tasks; flush, when set, is given
// the buffer after each task (docStream.flush).
func appendTasks(b []byte, tasks []*task, flush func([]byte) []byte) []byte {
	b = append(b, '[')
	for i, t := range tasks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTask(b, t)
		if flush != nil {
			b = flush(b)
		}
	}
	return append(b, ']')
}

// taskJSONKey is what a task's cached JSON was encoded from, besides
// what never changes once the task exists (its framework, executor, role
// and resources): the cache is used while the key is the same.
type taskJSONKey struct {
	info    *mesos.TaskInfo
	state   mesos.TaskState
	n       int // len(statuses): they are only appended to
	agentID string
}

func (t *task) jsonKey() taskJSONKey {
	return taskJSONKey{info: t.info, state: t.state, n: len(t.statuses), agentID: t.agentID}
}

// appendTask appends one task as Mesos's v0 task object (encodeTask). A
// task's JSON is kept once encoded, until the task changes: most tasks of
// a large cluster are running and unchanged from one /master/state to the
// next, and copying their bytes is several times cheaper than encoding
// them again (BenchmarkStateJSON). It runs on the loop, like every change
// to a task.
func appendTask(b []byte, t *task) []byte {
	if k := t.jsonKey(); t.json == nil || t.jsonOf != k {
		start := len(b)
		b = encodeTask(b, t)
		t.json, t.jsonOf = bytes.Clone(b[start:]), k
		return b
	}
	return append(b, t.json...)
}

// encodeTask appends one task as Mesos's v0 task object, its keys sorted
// as encoding/json sorts a map's.
func encodeTask(b []byte, t *task) []byte {
	info := t.info
	b = append(b, '{')
	if info.Container != nil {
		b = appendKey(b, "container", true)
		b = appendProto(b, protoJSON(info.Container))
		b = append(b, ',')
	}
	if info.Discovery != nil {
		b = appendKey(b, "discovery", true)
		b = appendProto(b, protoJSON(info.Discovery))
		b = append(b, ',')
	}
	b = appendKey(b, "executor_id", true)
	b = appendString(b, t.executorID)
	b = appendKey(b, "framework_id", false)
	b = appendString(b, t.frameworkID)
	if info.HealthCheck != nil {
		b = appendKey(b, "health_check", false)
		b = appendProto(b, protoJSON(info.HealthCheck))
	}
	b = appendKey(b, "id", false)
	b = appendString(b, t.id())
	if info.Labels != nil {
		b = appendKey(b, "labels", false)
		b = appendProto(b, protoJSON(info.Labels))
	}
	b = appendKey(b, "name", false)
	b = appendString(b, info.GetName())
	b = appendKey(b, "resources", false)
	b = appendResources(b, t.resources)
	b = appendKey(b, "role", false)
	b = appendString(b, t.role)
	b = appendKey(b, "slave_id", false)
	b = appendString(b, t.agentID)
	b = appendKey(b, "state", false)
	b = appendString(b, t.state.String())
	b = appendKey(b, "statuses", false)
	b = append(b, '[')
	for i, s := range t.statuses {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		first := true
		if s.ContainerStatus != nil {
			b = appendKey(b, "container_status", first)
			b = appendProto(b, protoJSON(s.ContainerStatus))
			first = false
		}
		if s.Healthy != nil {
			b = appendKey(b, "healthy", first)
			b = strconv.AppendBool(b, s.GetHealthy())
			first = false
		}
		if s.Labels != nil {
			b = appendKey(b, "labels", first)
			b = appendProto(b, protoJSON(s.Labels))
			first = false
		}
		b = appendKey(b, "state", first)
		b = appendString(b, s.GetState().String())
		b = appendKey(b, "timestamp", false)
		b = appendFloat(b, s.GetTimestamp())
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendKey appends "key": (after a comma unless first).
func appendKey(b []byte, key string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendProto appends embedded Mesos JSON compacted, as encoding/json
// does with a json.RawMessage.
func appendProto(b []byte, raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return append(b, "null"...)
	}
	return append(b, buf.Bytes()...)
}

// appendString appends s quoted as encoding/json quotes it: a fast path
// for the plain ASCII of ids and names, encoding/json itself otherwise.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat formats f as encoding/json formats a float64.
func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, '0') // encoding/json would fail; Mesos's values are finite
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendResources appends resourceMap(r) as encoding/json would: for the
// common resources of only cpus, disk, gpus and mem scalars without a map.
func appendResources(b []byte, r resources.Resources) []byte {
	var v [4]float64 // cpus, disk, gpus, mem: the sorted order of their names
	for e := range r.All() {
		i := -1
		if e.Kind == resources.KindScalar {
			switch e.Name {
			case "cpus":
				i = 0
			case "disk":
				i = 1
			case "gpus":
				i = 2
			case "mem":
				i = 3
			}
		}
		if i < 0 {
			return appendResourceMap(b, r)
		}
		v[i] += e.Value()
	}
	b = append(b, `{"cpus":`...)
	b = appendFloat(b, v[0])
	b = append(b, `,"disk":`...)
	b = appendFloat(b, v[1])
	b = append(b, `,"gpus":`...)
	b = appendFloat(b, v[2])
	b = append(b, `,"mem":`...)
	b = appendFloat(b, v[3])
	return append(b, '}')
}

// appendResourceMap is appendResources for any resources: scalars summed
// by name (cpus, disk, gpus and mem always present), ranges as
// "[a-b, c-d]", sets as "{a, b}", keys sorted.
func appendResourceMap(b []byte, r resources.Resources) []byte {
	type entry struct {
		name   string
		scalar float64
		ranges []resources.Range
		set    []string
		kind   resources.Kind
	}
	entries := []entry{{name: "cpus"}, {name: "disk"}, {name: "gpus"}, {name: "mem"}}
	find := func(name string, kind resources.Kind) *entry {
		for i := range entries {
			if entries[i].name == name {
				return &entries[i]
			}
		}
		entries = append(entries, entry{name: name, kind: kind})
		return &entries[len(entries)-1]
	}
	for e := range r.All() {
		x := find(e.Name, e.Kind)
		switch e.Kind {
		case resources.KindScalar:
			x.scalar += e.Value()
			x.kind = resources.KindScalar
		case resources.KindRanges:
			x.ranges = append(x.ranges, e.Ranges...)
			x.kind = resources.KindRanges
		case resources.KindSet:
			x.set = append(x.set, e.Set...)
			x.kind = resources.KindSet
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	b = append(b, '{')
	for i, x := range entries {
		b = appendKey(b, x.name, i == 0)
		switch x.kind {
		case resources.KindRanges:
			var v []byte
			v = append(v, '[')
			for j, rg := range x.ranges {
				if j > 0 {
					v = append(v, ", "...)
				}
				v = strconv.AppendUint(v, rg.Begin, 10)
				v = append(v, '-')
				v = strconv.AppendUint(v, rg.End, 10)
			}
			b = appendString(b, string(append(v, ']')))
		case resources.KindSet:
			b = appendString(b, "{"+strings.Join(x.set, ", ")+"}")
		default:
			b = appendFloat(b, x.scalar)
		}
	}
	return append(b, '}')
}
