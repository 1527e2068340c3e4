package framework

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/examples/internal/taskexec"
	"github.com/agora-dev/agora/sdk/scheduler"
)

// ExecutorResources is what each example's executor itself is given, on
// top of its tasks, as Mesos recommends.
var ExecutorResources = scheduler.Resources{Cpus: 0.1, Mem: 32}

// BinaryServer serves the running program over HTTP so that agents can
// fetch it as a custom executor — the seeds' "executor-all.jar served on
// port 8000", without the separate web server.
type BinaryServer struct {
	name string
	url  string
	srv  *http.Server
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ServeBinary starts serving os.Executable() at http://ADDR/NAME. name
// is also the file name in the executor's sandbox.
func ServeBinary(addr, name string) (*BinaryServer, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("bad executor file name %q", name)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program's binary: %w", err)
	}
	if _, err := os.Stat(self); err != nil {
		return nil, fmt.Errorf("finding this program's binary: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving the executor: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeFile(w, r, self)
	})
	b := &BinaryServer{
		name: name,
		url:  "http://" + ln.Addr().String() + "/" + name,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	go func() {
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "%s: executor server: %v\n", name, err)
		}
	}()
	return b, nil
}

// URL is where the binary is served.
func (b *BinaryServer) URL() string { return b.url }

// Close stops serving.
func (b *BinaryServer) Close() { _ = b.srv.Close() }

// Executor returns the ExecutorInfo of an executor that runs this program
// in executor mode with the given role (taskexec.Role): the agent fetches
// the binary from the server into the sandbox, makes it executable and
// runs "./NAME --executor=ROLE" there. Its resources are filled in when it
// is first launched on an agent (see Queue).
func (b *BinaryServer) Executor(id, role string) *mesos.ExecutorInfo {
	return &mesos.ExecutorInfo{
		ExecutorId: &mesos.ExecutorID{Value: proto.String(id)},
		Name:       proto.String(fmt.Sprintf("%s executor (%s)", b.name, role)),
		Source:     proto.String(b.name),
		Command: &mesos.CommandInfo{
			Shell: proto.Bool(true),
			Value: proto.String(fmt.Sprintf("exec ./%s %s=%s", b.name, taskexec.Flag, role)),
			Uris: []*mesos.CommandInfo_URI{{
				Value:      proto.String(b.url),
				Executable: proto.Bool(true),
				Extract:    proto.Bool(false),
				Cache:      proto.Bool(false),
			}},
		},
	}
}
