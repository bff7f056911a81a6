package dashstreamexporter

import (
	"errors"
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
)

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		err        error
		autoCreate bool
		want       bool
		reason     string
	}{
		{sarama.ErrMessageSizeTooLarge, true, true, lossOversize},
		{fmt.Errorf("wrapped: %w", sarama.ErrMessageSetSizeTooLarge), true, true, lossOversize},
		{sarama.ErrInvalidRecord, true, true, lossPermanent},
		{sarama.ErrTopicAuthorizationFailed, true, true, lossPermanent},
		{sarama.ErrClusterAuthorizationFailed, true, true, lossPermanent},
		{sarama.ErrInvalidTopic, true, true, lossPermanent},
		{sarama.ConfigurationError("bad"), true, true, lossPermanent},
		{sarama.ErrUnknownTopicOrPartition, false, true, lossPermanent},
		{sarama.ErrUnknownTopicOrPartition, true, false, ""},
		{sarama.ErrNotLeaderForPartition, true, false, ""},
		{sarama.ErrOutOfBrokers, true, false, ""},
		{sarama.ErrRequestTimedOut, true, false, ""},
		{errors.New("circuit breaker is open"), true, false, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/auto=%v", tt.err, tt.autoCreate), func(t *testing.T) {
			assert.Equal(t, tt.want, isPermanent(tt.err, tt.autoCreate))
			if tt.want {
				assert.Equal(t, tt.reason, lossReason(tt.err))
			}
		})
	}
}
