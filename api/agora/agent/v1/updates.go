package agentpb

// AllUpdates returns the status updates of an UPDATE call in order: the
// single update of protocol version 1, then those of updates (version 2).
func (c *Call) AllUpdates() []*Call_Update {
	if c.GetUpdate() == nil {
		return c.GetUpdates()
	}
	return append([]*Call_Update{c.GetUpdate()}, c.GetUpdates()...)
}

// MaxUpdatesPerCall bounds the updates an agent puts in one UPDATE call.
const MaxUpdatesPerCall = 256
