package master

import (
	"strings"
	"testing"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

func scalarRes(name string, v float64) *mesos.Resource {
	return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
}

func groupTask(id string) *mesos.TaskInfo {
	return &mesos.TaskInfo{
		Name:      proto.String(id),
		TaskId:    &mesos.TaskID{Value: proto.String(id)},
		AgentId:   &mesos.AgentID{Value: proto.String("S1")},
		Command:   &mesos.CommandInfo{Value: proto.String("true")},
		Resources: []*mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 32)},
	}
}

func defaultExecutorInfo() *mesos.ExecutorInfo {
	return &mesos.ExecutorInfo{
		ExecutorId:  &mesos.ExecutorID{Value: proto.String("default")},
		FrameworkId: &mesos.FrameworkID{Value: proto.String("f1")},
		Type:        mesos.ExecutorInfo_DEFAULT.Enum(),
		Resources:   []*mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 32), scalarRes("disk", 32)},
	}
}

func TestValidateLaunchGroup(t *testing.T) {
	offered, err := resources.Parse("cpus:1;mem:256;disk:100")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(lg *mesos.Offer_Operation_LaunchGroup, f *framework, a *agent)
		want   string // substring of the error; empty: valid
		need   string // resources consumed when valid
	}{
		{name: "valid", need: "cpus:0.3;mem:96;disk:32"},
		{name: "no executor", want: "'LaunchGroup.executor' must be set",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) { lg.Executor = nil }},
		{name: "no tasks", want: "at least one task",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) { lg.TaskGroup.Tasks = nil }},
		{name: "custom executor", want: "must be 'DEFAULT'",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.Executor.Type = mesos.ExecutorInfo_CUSTOM.Enum()
			}},
		{name: "no framework id", want: "'ExecutorInfo.framework_id' must be set",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) { lg.Executor.FrameworkId = nil }},
		{name: "other framework id", want: "invalid FrameworkID",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.Executor.FrameworkId = &mesos.FrameworkID{Value: proto.String("f2")}
			}},
		{name: "little memory", want: "uses less memory (16MB) than the minimum required (32MB)",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.Executor.Resources[1] = scalarRes("mem", 16)
			}},
		{name: "no disk", want: "uses no disk",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.Executor.Resources = lg.Executor.Resources[:2]
			}},
		{name: "task with another executor", want: "is different from executor 'default'",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[1].Executor = &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("other")}}
			}},
		{name: "duplicate task in group", want: "duplicate ID: a",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[1].TaskId.Value = proto.String("a")
			}},
		{name: "task id of a live task", want: "duplicate ID: b",
			mutate: func(_ *mesos.Offer_Operation_LaunchGroup, f *framework, _ *agent) { f.tasks["b"] = &task{} }},
		{name: "invalid task id", want: "invalid task",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[0].TaskId.Value = proto.String("a/b")
			}},
		{name: "wrong agent", want: "uses invalid agent",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[0].AgentId.Value = proto.String("S2")
			}},
		{name: "task without command", want: "must have a 'command'",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[0].Command = nil
			}},
		{name: "invalid resources", want: "invalid resources",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[0].Resources = append(lg.TaskGroup.Tasks[0].Resources, scalarRes("cpus", -1))
			}},
		{name: "invalid health check", want: "invalid health check",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[0].HealthCheck = &mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum()}
			}},
		{name: "more than offered", want: "more resources",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, _ *framework, _ *agent) {
				lg.TaskGroup.Tasks[0].Resources[0] = scalarRes("cpus", 1)
			}},
		{name: "running executor is not counted", need: "cpus:0.2;mem:64",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, f *framework, a *agent) {
				a.executors["f1"] = map[string]*executor{"default": {info: defaultExecutorInfo()}}
			}},
		{name: "running executor differs", want: "not compatible",
			mutate: func(lg *mesos.Offer_Operation_LaunchGroup, f *framework, a *agent) {
				other := defaultExecutorInfo()
				other.Resources[1] = scalarRes("mem", 64)
				a.executors["f1"] = map[string]*executor{"default": {info: other}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &framework{id: "f1", tasks: map[string]*task{}}
			a := &agent{id: "S1", executors: map[string]map[string]*executor{}}
			lg := &mesos.Offer_Operation_LaunchGroup{
				Executor:  defaultExecutorInfo(),
				TaskGroup: &mesos.TaskGroupInfo{Tasks: []*mesos.TaskInfo{groupTask("a"), groupTask("b")}},
			}
			if tc.mutate != nil {
				tc.mutate(lg, f, a)
			}
			need, execNew, err := (&Master{}).validateLaunchGroup(f, a, "*", lg, offered, map[string]*mesos.ExecutorInfo{})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := resources.Parse(tc.need)
			if !need.Equal(want) {
				t.Errorf("need %s, want %s", need, want)
			}
			if (execNew != nil) != (len(a.executors["f1"]) == 0) {
				t.Errorf("execNew = %v with running executors %v", execNew, a.executors["f1"])
			}
		})
	}
}
