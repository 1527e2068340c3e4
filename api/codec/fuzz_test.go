package codec

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fuzzTargets are the messages the fuzzers decode into: what the master and
// the agent read from untrusted clients.
func fuzzTargets() []proto.Message {
	return []proto.Message{&scheduler.Call{}, &executor.Call{}}
}

func FuzzJSONUnmarshal(f *testing.F) {
	for _, m := range roundTripMessages() {
		if b, err := JSON.Marshal(m); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`,
		`{"executor_id":{"value":"e"},"framework_id":{"value":"f"},"type":"HEARTBEAT"}`,
		`{"type":5,"revive":{"roles":"a"}}`,
		`{"type":"DECLINE","decline":{"offer_ids":{"value":"o"},"filters":{"refuse_seconds":"1e3"}}}`,
		`{"type":"ACCEPT","accept":{"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"limits":{"cpus":{"value":Infinity}}}]}}]}}`,
		`{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"YNUWNGuoSmacXiVHAUz55g"}}`,
		`{"frameworkId":{"value":"\ud83d\ude00\u0000"},"type":null}`,
		`{"a":[[[[{}]]]],"type":-0.0e+1}`,
		`[]`, `{`, `nul`, `{"type":"`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, target := range fuzzTargets() {
			m := target.ProtoReflect().New().Interface()
			if err := JSON.Unmarshal(data, m); err != nil {
				continue
			}
			b, err := JSON.Marshal(m)
			if err != nil {
				t.Fatalf("%T: decoded %q but cannot re-encode: %v", m, data, err)
			}
			m2 := target.ProtoReflect().New().Interface()
			if err := JSON.Unmarshal(b, m2); err != nil {
				t.Fatalf("%T: cannot decode own output %s: %v", m, b, err)
			}
			if !proto.Equal(withDefaults(m), m2) {
				t.Fatalf("%T: round trip differs\nfirst:  %v\nsecond: %v\njson: %s", m, m, m2, b)
			}
			b2, err := JSON.Marshal(m2)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("%T: encoding not stable:\n%s\n%s (%v)", m, b, b2, err)
			}
		}
	})
}

func FuzzProtobufUnmarshal(f *testing.F) {
	for _, m := range roundTripMessages() {
		if b, err := Protobuf.Marshal(m); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x10, 0x05})             // type: 5
	f.Add([]byte{0x10, 0x63})             // type: 99 (unknown enum number)
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01}) // truncated
	f.Add([]byte{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, target := range fuzzTargets() {
			m := target.ProtoReflect().New().Interface()
			if err := Protobuf.Unmarshal(data, m); err != nil {
				continue
			}
			b, err := Protobuf.Marshal(m)
			if err != nil {
				t.Fatalf("%T: decoded but cannot re-encode: %v", m, err)
			}
			m2 := target.ProtoReflect().New().Interface()
			if err := Protobuf.Unmarshal(b, m2); err != nil {
				t.Fatalf("%T: cannot decode own output: %v", m, err)
			}
			if !proto.Equal(m, m2) {
				t.Fatalf("%T: protobuf round trip differs\nfirst:  %v\nsecond: %v", m, m, m2)
			}

			// The same message must survive JSON too, apart from what JSON
			// cannot carry: unknown fields and invalid UTF-8 in strings.
			if !jsonSafe(m.ProtoReflect()) {
				continue
			}
			j, err := JSON.Marshal(m)
			if err != nil {
				t.Fatalf("%T: cannot encode as JSON: %v", m, err)
			}
			m3 := target.ProtoReflect().New().Interface()
			if err := JSON.Unmarshal(j, m3); err != nil {
				t.Fatalf("%T: cannot decode own JSON %s: %v", m, j, err)
			}
			if !proto.Equal(withDefaults(m), m3) {
				t.Fatalf("%T: JSON round trip differs\nfirst:  %v\nsecond: %v\njson: %s", m, m, m3, j)
			}
		}
	})
}

// jsonSafe reports whether m has neither unknown fields nor invalid UTF-8
// strings nor enum numbers outside their enum, anywhere.
func jsonSafe(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return false
	}
	ok := true
	value := func(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
		switch {
		case isMessage(fd):
			ok = ok && jsonSafe(v.Message())
		case fd.Kind() == protoreflect.StringKind:
			ok = ok && utf8.ValidString(v.String())
		case fd.Kind() == protoreflect.EnumKind:
			ok = ok && fd.Enum().Values().ByNumber(v.Enum()) != nil
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				value(fd, v.List().Get(i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				value(fd.MapKey(), k.Value())
				value(fd.MapValue(), mv)
				return ok
			})
		default:
			value(fd, v)
		}
		return ok
	})
	return ok
}
