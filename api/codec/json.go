package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// JSON is the application/json codec. It speaks Mesos's JSON, which is not
// protojson's:
//
// Encoding follows stout's JSON::Protobuf: keys are proto field names,
// enums are written as their names, 64-bit integers as JSON numbers, bytes
// as padded standard base64, doubles in shortest round-trip form with a
// ".0" kept on integral values (±infinity as the bare tokens Infinity and
// -Infinity), empty repeated fields and unset messages omitted, and unset
// optional fields with an explicit, non-deprecated [default] written with
// their default value. Messages with missing required fields are refused.
//
// Decoding follows stout's JSON→protobuf rules, leniently: unknown keys are
// ignored, null means unset, enum names unknown to us are dropped (an error
// only for a required field), numbers may also come as numeric strings,
// booleans as "true"/"false", a single value stands for a one-element
// repeated field, and missing required fields are an error.
var JSON Codec = jsonCodec{}

// maxJSONDepth bounds the nesting of arrays and objects the decoder accepts.
const maxJSONDepth = 100

type jsonCodec struct{}

func (jsonCodec) MediaType() string { return MediaJSON }

func (jsonCodec) Marshal(m proto.Message) ([]byte, error) {
	if err := proto.CheckInitialized(m); err != nil {
		return nil, err
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return []byte("{}"), nil
	}
	return appendMessage(make([]byte, 0, 256), r), nil
}

func (jsonCodec) Unmarshal(data []byte, m proto.Message) error {
	proto.Reset(m)
	p := parser{data: data}
	v, err := p.parse()
	if err != nil {
		return err
	}
	if v.kind != jObject {
		return fmt.Errorf("json: expecting a JSON object, got %s", v.kind)
	}
	if err := decodeMessage(m.ProtoReflect(), v, ""); err != nil {
		return err
	}
	return proto.CheckInitialized(m)
}
