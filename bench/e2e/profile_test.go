package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseShares(t *testing.T) {
	listing := `File: otelcol-bench-ours
Showing nodes accounting for 2.66s, 28.30% of 9.40s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%      6.86s 72.98%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*Translator).Translate
     0.02s  0.21%  0.85%      5.42s 57.66%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*emitter).snapshot
     0.03s  0.32%  1.17%      1.85s 19.68%  runtime.mallocgc
         0     0%  2.23%      0.98s 10.43%  github.com/dashstream/dashstreamexporter/dashstream/translate.parseState
     0.01s  0.11%  0.21%      0.60s  6.43%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*redactor).redactJSON
     0.01s  0.11%  0.21%      0.10s  1.00%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*redactor).redactString
         0     0% 52.59%      0.58s 11.13%  github.com/twmb/franz-go/pkg/kgo.(*broker).handleReqs
garbage line
`
	got := parseShares(listing)
	assert.Equal(t, map[string]float64{
		"translation, all of it (Translator.Translate)":    72.98,
		"state snapshots (diff, hash, encode a StateDiff)": 57.66,
		"memory allocation (runtime.mallocgc)":             19.68,
		"parsing the state JSON":                           10.43,
		"redaction of the state":                           6.43,
		"Kafka client: franz-go":                           11.13,
	}, got)
}
