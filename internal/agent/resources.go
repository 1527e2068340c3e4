package agent

import (
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// agentResources returns the agent's total resources (defaults with
// --resources merged over them) and its attributes.
//
// TEMPORARY: a minimal parser until branch alloc (internal/resources) lands.
func agentResources(cfg Config, logger *slog.Logger) ([]*mesos.Resource, []*mesos.Attribute, error) {
	_ = logger
	given := map[string]*mesos.Resource{}
	var order []string
	for _, tok := range strings.Split(cfg.Resources, ";") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		name, val, ok := strings.Cut(tok, ":")
		if !ok {
			return nil, nil, fmt.Errorf("agent: parse resources %q: bad entry %q", cfg.Resources, tok)
		}
		r := &mesos.Resource{Name: proto.String(name)}
		if strings.HasPrefix(val, "[") {
			r.Type = mesos.Value_RANGES.Enum()
			r.Ranges = &mesos.Value_Ranges{}
			for _, part := range strings.Split(strings.Trim(val, "[]"), ",") {
				b, e, _ := strings.Cut(strings.TrimSpace(part), "-")
				bi, err1 := strconv.ParseUint(b, 10, 64)
				ei, err2 := strconv.ParseUint(e, 10, 64)
				if err1 != nil || err2 != nil {
					return nil, nil, fmt.Errorf("agent: parse resources %q: bad range %q", cfg.Resources, part)
				}
				r.Ranges.Range = append(r.Ranges.Range, &mesos.Value_Range{Begin: proto.Uint64(bi), End: proto.Uint64(ei)})
			}
		} else {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("agent: parse resources %q: bad scalar %q", cfg.Resources, val)
			}
			r.Type = mesos.Value_SCALAR.Enum()
			r.Scalar = &mesos.Value_Scalar{Value: proto.Float64(f)}
		}
		given[name] = r
		order = append(order, name)
	}
	def := func(name string, v float64) {
		if given[name] == nil {
			given[name] = &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(),
				Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
			order = append(order, name)
		}
	}
	def("cpus", float64(runtime.NumCPU()))
	def("mem", 1024)
	def("disk", 10240)
	if given["ports"] == nil {
		given["ports"] = &mesos.Resource{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum(),
			Ranges: &mesos.Value_Ranges{Range: []*mesos.Value_Range{{Begin: proto.Uint64(31000), End: proto.Uint64(32000)}}}}
		order = append(order, "ports")
	}
	var res []*mesos.Resource
	for _, n := range order {
		res = append(res, given[n])
	}
	var attrs []*mesos.Attribute
	for _, tok := range strings.Split(cfg.Attributes, ";") {
		name, val, ok := strings.Cut(strings.TrimSpace(tok), ":")
		if !ok {
			continue
		}
		attrs = append(attrs, &mesos.Attribute{Name: proto.String(name), Type: mesos.Value_TEXT.Enum(),
			Text: &mesos.Value_Text{Value: proto.String(val)}})
	}
	return res, attrs, nil
}
