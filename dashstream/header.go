package dashstream

import "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"

// HeaderOf returns the header of whichever message the oneof carries, or nil
// when the message is nil, carries nothing, or its payload has no header.
// Every DashStream message type has its header as field 1, but the oneof
// hides it behind nine getters; this is the one place that knows them all.
func HeaderOf(m *dashstreampb.DashStreamMessage) *dashstreampb.Header {
	switch p := m.GetMessage().(type) {
	case *dashstreampb.DashStreamMessage_Event:
		return p.Event.GetHeader()
	case *dashstreampb.DashStreamMessage_StateDiff:
		return p.StateDiff.GetHeader()
	case *dashstreampb.DashStreamMessage_TokenChunk:
		return p.TokenChunk.GetHeader()
	case *dashstreampb.DashStreamMessage_ToolExecution:
		return p.ToolExecution.GetHeader()
	case *dashstreampb.DashStreamMessage_Checkpoint:
		return p.Checkpoint.GetHeader()
	case *dashstreampb.DashStreamMessage_Metrics:
		return p.Metrics.GetHeader()
	case *dashstreampb.DashStreamMessage_Error:
		return p.Error.GetHeader()
	case *dashstreampb.DashStreamMessage_EventBatch:
		return p.EventBatch.GetHeader()
	case *dashstreampb.DashStreamMessage_ExecutionTrace:
		return p.ExecutionTrace.GetHeader()
	default:
		return nil
	}
}

// MessageTypeOf returns the MessageType matching the oneof the message
// carries (what Header.type must say), or MESSAGE_TYPE_UNSPECIFIED when it
// carries nothing.
func MessageTypeOf(m *dashstreampb.DashStreamMessage) dashstreampb.MessageType {
	switch m.GetMessage().(type) {
	case *dashstreampb.DashStreamMessage_Event:
		return dashstreampb.MessageType_MESSAGE_TYPE_EVENT
	case *dashstreampb.DashStreamMessage_StateDiff:
		return dashstreampb.MessageType_MESSAGE_TYPE_STATE_DIFF
	case *dashstreampb.DashStreamMessage_TokenChunk:
		return dashstreampb.MessageType_MESSAGE_TYPE_TOKEN_CHUNK
	case *dashstreampb.DashStreamMessage_ToolExecution:
		return dashstreampb.MessageType_MESSAGE_TYPE_TOOL_EXECUTION
	case *dashstreampb.DashStreamMessage_Checkpoint:
		return dashstreampb.MessageType_MESSAGE_TYPE_CHECKPOINT
	case *dashstreampb.DashStreamMessage_Metrics:
		return dashstreampb.MessageType_MESSAGE_TYPE_METRICS
	case *dashstreampb.DashStreamMessage_Error:
		return dashstreampb.MessageType_MESSAGE_TYPE_ERROR
	case *dashstreampb.DashStreamMessage_EventBatch:
		return dashstreampb.MessageType_MESSAGE_TYPE_EVENT_BATCH
	case *dashstreampb.DashStreamMessage_ExecutionTrace:
		return dashstreampb.MessageType_MESSAGE_TYPE_EXECUTION_TRACE
	default:
		return dashstreampb.MessageType_MESSAGE_TYPE_UNSPECIFIED
	}
}
