package main

import (
	"github.com/dashstream/dashstreamexporter/dashstream"
	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// One tenant per view: with --tenant, the live view and the relay show only
// the messages whose Header.tenant_id is that tenant, so one topic can serve
// several teams, each through a server of its own. A record that does not
// decode cannot be attributed and is not relayed.

// tenantFilter selects one tenant's messages; the zero value keeps all.
type tenantFilter struct {
	id  string
	dec *dashstream.Decoder
}

func newTenantFilter(id string) (tenantFilter, error) {
	if id == "" {
		return tenantFilter{}, nil
	}
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		return tenantFilter{}, err
	}
	return tenantFilter{id: id, dec: dec}, nil
}

// keepHeader reports whether a message with this header is shown.
func (t tenantFilter) keepHeader(h *pb.Header) bool {
	return t.id == "" || h.GetTenantId() == t.id
}

// keepValue reports whether a record value is relayed.
func (t tenantFilter) keepValue(value []byte) bool {
	if t.id == "" {
		return true
	}
	msg, err := t.dec.Decode(value)
	return err == nil && t.keepHeader(dashstream.HeaderOf(msg))
}
