package codec

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// JSON is the application/json codec.
//
// This first version rides on protojson with proto field names; the Mesos
// flavour (64-bit integers as numbers, explicit defaults, lenient parsing)
// replaces it.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) MediaType() string { return MediaJSON }

func (jsonCodec) Marshal(m proto.Message) ([]byte, error) {
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
}

func (jsonCodec) Unmarshal(data []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, m)
}
