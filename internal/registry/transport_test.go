package registry

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRaftSecret: with a group key, a master refuses Raft connections
// from one that does not know it (401), and takes them from one that does.
func TestRaftSecret(t *testing.T) {
	server := NewHTTPStreamLayer("127.0.0.1:1")
	server.Key = []byte("group secret\n")
	srv := httptest.NewServer(server)
	defer srv.Close()
	defer server.Close()
	addr := raft.ServerAddress(strings.TrimPrefix(srv.URL, "http://"))

	for name, key := range map[string][]byte{"no key": nil, "another key": []byte("guess")} {
		c := NewHTTPStreamLayer("127.0.0.1:2")
		c.Key = key
		if conn, err := c.Dial(addr, 5*time.Second); err == nil || !strings.Contains(err.Error(), "401") {
			if conn != nil {
				conn.Close()
			}
			t.Errorf("%s: Dial = %v, want a 401", name, err)
		}
	}
	c := NewHTTPStreamLayer("127.0.0.1:2")
	c.Key = []byte("group secret\n")
	conn, err := c.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("Dial with the group key: %v", err)
	}
	defer conn.Close()
	accepted, err := server.Accept()
	if err != nil {
		t.Fatal(err)
	}
	accepted.Close()
}
