package registry

import (
	"fmt"
	"io"
	"reflect"
	"testing"
)

func TestFSMLostTasks(t *testing.T) {
	f := NewFSM()
	for i, op := range []Op{
		RecordLostTasks{FrameworkID: "f1", Tasks: []LostTask{{TaskID: "t1", AgentID: "a1"}, {TaskID: "t2"}}, Time: 1},
		RecordLostTasks{FrameworkID: "f1", Tasks: []LostTask{{TaskID: "t1", AgentID: "a9"}}, Time: 2}, // kept once, as first told
		RecordLostTasks{FrameworkID: "f2", Tasks: []LostTask{{TaskID: "t1"}}, Time: 3},
	} {
		if r := apply(t, f, uint64(i+1), op); r != nil {
			t.Fatalf("op %d: %v", i, r)
		}
	}
	if got, want := f.LostTasks("f1"), []LostTask{{TaskID: "t1", AgentID: "a1"}, {TaskID: "t2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("f1 lost tasks %+v, want %+v", got, want)
	}
	if r := apply(t, f, 4, RecordLostTasks{FrameworkID: "f1", Tasks: []LostTask{{}}}); r == nil {
		t.Error("a lost task without id was accepted")
	}
	if r := apply(t, f, 5, RecordLostTasks{Tasks: []LostTask{{TaskID: "t"}}}); r == nil {
		t.Error("lost tasks without a framework id were accepted")
	}
	// A removed framework's tasks are forgotten, and none are recorded
	// for it any more.
	apply(t, f, 6, RemoveFramework{ID: "f2", Time: 4})
	apply(t, f, 7, RecordLostTasks{FrameworkID: "f2", Tasks: []LostTask{{TaskID: "t3"}}})
	if got := f.LostTasks("f2"); got != nil {
		t.Errorf("removed framework f2 keeps lost tasks %+v", got)
	}

	// Snapshot and restore keep them, in order.
	var sink memSink
	snap, _ := f.Snapshot()
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := NewFSM()
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.State(), f.State()) {
		t.Errorf("restored %+v, want %+v", g.State(), f.State())
	}
}

func TestFSMLostTasksBounded(t *testing.T) {
	f := NewFSM()
	var tasks []LostTask
	for i := range MaxLostTasksPerFramework + 5 {
		tasks = append(tasks, LostTask{TaskID: fmt.Sprintf("t%d", i)})
	}
	apply(t, f, 1, RecordLostTasks{FrameworkID: "f1", Tasks: tasks})
	got := f.LostTasks("f1")
	if len(got) != MaxLostTasksPerFramework || got[0].TaskID != "t5" {
		t.Fatalf("kept %d lost tasks starting at %v, want %d from t5", len(got), got[0], MaxLostTasksPerFramework)
	}
	// Across frameworks the oldest framework's list goes first.
	n := MaxLostTasks/MaxLostTasksPerFramework + 1
	for i := range n {
		apply(t, f, uint64(i+2), RecordLostTasks{FrameworkID: fmt.Sprintf("g%d", i), Tasks: tasks[:MaxLostTasksPerFramework]})
	}
	if f.LostTasks("f1") != nil || f.LostTasks("g0") != nil {
		t.Error("the oldest frameworks' lost tasks were kept past MaxLostTasks")
	}
	if f.LostTasks(fmt.Sprintf("g%d", n-1)) == nil {
		t.Error("the newest framework's lost tasks were dropped")
	}
	checkState(t, f.State())
}
