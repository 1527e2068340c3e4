package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
)

// detectResources is resources.Detect; tests replace it to make detection fail.
var detectResources = resources.Detect

// agentResources returns the agent's total resources (detected defaults
// with --resources merged over them) and its attributes.
//
// A resource that cannot be detected is an error unless --resources names it:
// an agent that offered a made-up amount of memory or disk would let the
// master overcommit the machine (or waste it) without anyone noticing.
func agentResources(cfg Config, logger *slog.Logger) ([]*mesos.Resource, []*mesos.Attribute, error) {
	given, err := resources.Parse(cfg.Resources)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: parse resources %q: %w", cfg.Resources, err)
	}
	detected, derr := detectResources(cfg.WorkDir)
	if derr != nil {
		var missing []string
		var errs []error
		des := resources.DetectErrors(derr)
		for _, de := range des {
			if given.Has(de.Name) {
				// The operator said how much; the detected value is unused.
				logger.Debug("resource detection failed; --resources gives it", "resource", de.Name, "err", de.Err)
				continue
			}
			missing = append(missing, de.Name)
			errs = append(errs, de)
		}
		if len(des) == 0 { // not a per-resource error: nothing can be trusted
			return nil, nil, fmt.Errorf("agent: detect resources of work_dir %q: %w; give every resource with --resources", cfg.WorkDir, derr)
		}
		if len(missing) > 0 {
			return nil, nil, fmt.Errorf("agent: detect resources of work_dir %q: %w; "+
				"give them with --resources (for example --resources='%s'), or fix what made detection fail",
				cfg.WorkDir, errors.Join(errs...), example(missing))
		}
	}
	total := resources.MergeDefaults(given, detected)
	attrs, err := resources.ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: parse attributes %q: %w", cfg.Attributes, err)
	}
	return total.ToProto(""), attrs, nil
}

// example is a --resources value naming each of names with a sample amount.
func example(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		amount := "1024"
		if n == resources.Disk {
			amount = "10240"
		}
		parts[i] = n + ":" + amount
	}
	return strings.Join(parts, ";")
}
