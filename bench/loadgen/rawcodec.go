package main

import (
	"fmt"

	"google.golang.org/grpc/mem"
)

// rawMessage carries already-marshaled protobuf bytes through gRPC.
type rawMessage struct{ b []byte }

// rawCodec sends rawMessage bytes as they are and keeps response bytes
// unparsed. It is named "proto" so the content-subtype on the wire stays
// application/grpc+proto and the collector decodes it with its usual codec.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	m.b = data.Materialize()
	return nil
}
