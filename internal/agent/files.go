package agent

import (
	"net/http"

	"github.com/agora-dev/agora/internal/files"
)

// sandboxFiles is what the agent needs of the /files service
// (internal/files.Files).
type sandboxFiles interface {
	http.Handler
	// Attach makes realPath browsable under virtualPath.
	Attach(virtualPath, realPath string)
	// Detach removes the attachment of virtualPath.
	Detach(virtualPath string)
}

var _ sandboxFiles = (*files.Files)(nil)
