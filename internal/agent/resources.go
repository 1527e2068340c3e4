package agent

import (
	"fmt"
	"log/slog"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
)

// agentResources returns the agent's total resources (detected defaults
// with --resources merged over them) and its attributes.
func agentResources(cfg Config, logger *slog.Logger) ([]*mesos.Resource, []*mesos.Attribute, error) {
	detected, err := resources.Detect(cfg.WorkDir)
	if err != nil {
		// Detect falls back to usable values; say what it could not measure.
		logger.Warn("resource detection incomplete; using fallbacks", "err", err)
	}
	given, err := resources.Parse(cfg.Resources)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: parse resources %q: %w", cfg.Resources, err)
	}
	total := resources.MergeDefaults(given, detected)
	attrs, err := resources.ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: parse attributes %q: %w", cfg.Attributes, err)
	}
	return total.ToProto(""), attrs, nil
}
