package dashstreamexporter // import "github.com/dashstream/dashstreamexporter"

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// partialFailure is the retryable error of an attempt that left some records
// unacknowledged: remaining holds exactly those, in order, and the retry
// sender resends only them (recordsRequest.OnError), so acknowledged records
// are never produced twice (SPEC §5.5).
type partialFailure struct {
	remaining *recordsRequest
	failed    int
	total     int
	cause     error
}

func (e *partialFailure) Error() string {
	return fmt.Sprintf("dashstream: %d of %d records not acknowledged by Kafka, will retry them: %v",
		e.failed, e.total, e.cause)
}

func (e *partialFailure) Unwrap() error { return e.cause }

// Loss reasons (attribute `reason` of dashstream_records_lost).
const (
	lossPermanent        = "permanent_error"   // Kafka rejected the record for good
	lossOversize         = "oversize"          // larger than producer.max_message_bytes
	lossReordered        = "reordered"         // failed after a later record of its thread was acknowledged
	lossQueueFull        = "queue_full"        // the sending queue refused the request
	lossRejected         = "enqueue_failed"    // the sending queue refused it for another reason
	lossRetriesExhausted = "retries_exhausted" // still unacknowledged when retry_on_failure gave up
)

// errNotStarted is returned when a request is pushed before Start.
var errNotStarted = errors.New("dashstream: exporter not started")

// isPermanent reports whether Kafka will reject the record however often it
// is sent (SPEC §5.5): retrying would only delay the records behind it.
func isPermanent(err error, autoCreateTopics bool) bool {
	var ce sarama.ConfigurationError
	if errors.As(err, &ce) {
		return true
	}
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr {
	case sarama.ErrMessageSizeTooLarge,
		sarama.ErrInvalidMessage,
		sarama.ErrInvalidMessageSize,
		sarama.ErrInvalidTopic,
		sarama.ErrMessageSetSizeTooLarge,
		sarama.ErrInvalidRequiredAcks,
		sarama.ErrTopicAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed,
		sarama.ErrTransactionalIDAuthorizationFailed,
		sarama.ErrUnsupportedForMessageFormat,
		sarama.ErrPolicyViolation,
		sarama.ErrInvalidRecord,
		sarama.ErrSASLAuthenticationFailed:
		return true
	case sarama.ErrUnknownTopicOrPartition:
		// With auto-creation the topic appears shortly; without it the
		// record can never be written.
		return !autoCreateTopics
	}
	return false
}

// lossReason names why a permanently failed record was dropped.
func lossReason(err error) string {
	if errors.Is(err, sarama.ErrMessageSizeTooLarge) || errors.Is(err, sarama.ErrMessageSetSizeTooLarge) {
		return lossOversize
	}
	return lossPermanent
}
