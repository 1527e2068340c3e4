// Package codec encodes and decodes Mesos v1 messages in the two media types
// the Mesos HTTP APIs speak: application/x-protobuf and Mesos's own JSON, and
// chooses between them from Content-Type and Accept headers exactly as a
// Mesos master does.
package codec

import (
	"errors"
	"strings"

	"google.golang.org/protobuf/proto"
)

// Media types.
const (
	MediaJSON     = "application/json"
	MediaProtobuf = "application/x-protobuf"
)

// A Codec turns messages into bytes of one media type and back.
type Codec interface {
	// MediaType is the exact Content-Type of encoded messages.
	MediaType() string
	Marshal(m proto.Message) ([]byte, error)
	// Unmarshal decodes data into m, which it resets first. It fails when
	// the data is malformed or a required field is missing.
	Unmarshal(data []byte, m proto.Message) error
}

// Errors of content negotiation; the comment says which HTTP status Mesos
// answers with.
var (
	ErrNoContentType        = errors.New("expecting 'Content-Type' to be present") // 400
	ErrUnsupportedMediaType = errors.New("unsupported media type")                 // 415
)

// Protobuf is the application/x-protobuf codec.
var Protobuf Codec = protobufCodec{}

type protobufCodec struct{}

func (protobufCodec) MediaType() string { return MediaProtobuf }

func (protobufCodec) Marshal(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

func (protobufCodec) Unmarshal(data []byte, m proto.Message) error {
	return proto.Unmarshal(data, m)
}

// ForContentType returns the codec of a request's Content-Type. Like Mesos
// it compares the whole header value (no parameters such as charset).
func ForContentType(contentType string) (Codec, error) {
	switch contentType {
	case "":
		return nil, ErrNoContentType
	case MediaJSON:
		return JSON, nil
	case MediaProtobuf:
		return Protobuf, nil
	}
	return nil, ErrUnsupportedMediaType
}

// ForAccept returns the codec for a response given every value of the
// request's Accept headers. As in libprocess only the last header counts;
// JSON is preferred, and a missing Accept or */* means JSON. ok is false
// when neither media type is acceptable (406).
func ForAccept(values []string) (c Codec, ok bool) {
	if len(values) == 0 {
		return JSON, true
	}
	last := values[len(values)-1]
	if strings.TrimSpace(last) == "" {
		return JSON, true
	}
	if accepts(last, MediaJSON) {
		return JSON, true
	}
	if accepts(last, MediaProtobuf) {
		return Protobuf, true
	}
	return nil, false
}

// accepts reports whether an Accept header value admits the media type,
// honouring wildcards and q=0.
func accepts(header, media string) bool {
	typ, _, _ := strings.Cut(media, "/")
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		r := strings.ToLower(strings.TrimSpace(fields[0]))
		refused := false
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "q" {
				v = strings.TrimSpace(v)
				if v == "0" || v == "0.0" || v == "0.00" || v == "0.000" {
					refused = true
				}
			}
		}
		if refused {
			continue
		}
		if r == media || r == "*/*" || r == typ+"/*" {
			return true
		}
	}
	return false
}
