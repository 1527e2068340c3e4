package master

import (
	"slices"
	"testing"
	"time"
)

// TestNewAgentAdmittedBeforeSubscribed: a new agent hears SUBSCRIBED only
// once the registry holds it (Mesos's AdmitSlave before
// SlaveRegisteredMessage), so a leader elected right after knows it.
func TestNewAgentAdmittedBeforeSubscribed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.AllocationInterval = time.Hour
	cfg.WorkDir = t.TempDir() // a persistent registry: each commit is an fsync
	m, base, _ := runMaster(t, cfg)
	for range 8 {
		a := startAgent(t, base)
		var admitted []string
		for _, ra := range m.reg.FSM().State().Agents {
			admitted = append(admitted, ra.ID)
		}
		if !slices.Contains(admitted, a.id) {
			t.Errorf("agent %s was told SUBSCRIBED before the registry admitted it (registry: %v)", a.id, admitted)
		}
	}
}
