package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	calls := 0
	snap := func() (map[string]float64, error) {
		calls++
		return map[string]float64{"x/mem_total": 2, "x/mem_used": 1, "x/tasks_finished": float64(calls), "x/up": 3}, nil
	}
	c := NewCollector(snap, append(Resources("x", "t", "total", "used"),
		Counter("x/tasks_finished", "t_finished_total", "Finished."),
		Gauge("x/up", "t_up_seconds", "Up."),
		Gauge("x/absent", "t_absent", "Not in the snapshot."),
	))
	srv := httptest.NewServer(Handler(c))
	defer srv.Close()
	get := func() string {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := get()
	for _, want := range []string{
		`t_memory_bytes{type="total"} 2.097152e+06`,
		`t_memory_bytes{type="used"} 1.048576e+06`,
		"# TYPE t_finished_total counter\nt_finished_total 1\n",
		"t_up_seconds 3\n",
		"mesos_build_info{",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if strings.Contains(body, "t_absent ") || strings.Contains(body, "t_cpus{") {
		t.Errorf("keys missing from the snapshot were exported:\n%s", body)
	}
	if body := get(); !strings.Contains(body, "t_finished_total 2\n") {
		t.Errorf("second scrape did not take a new snapshot:\n%s", body)
	}
}

func TestCollectorError(t *testing.T) {
	c := NewCollector(func() (map[string]float64, error) { return nil, errors.New("stopping") },
		[]Mapping{Gauge("a", "a", "A.")})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Errorf("Gather: %v", err)
	}
}

func TestNewCollectorRejectsMismatchedLabels(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for one name with two label sets")
		}
	}()
	NewCollector(nil, []Mapping{Gauge("a", "m", "", "state", "x"), Gauge("b", "m", "", "type", "y")})
}

func TestSystem(t *testing.T) {
	out := map[string]float64{}
	System(out)
	if out["system/cpus_total"] < 1 {
		t.Errorf("system: %v", out)
	}
}
