package translate

import (
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

// collected is what the first stage of a call hands on: every span of the
// request classified, the recognised ones and the ones we ignore (kept for
// their parent links: an ignored span is transparent, its children belong
// under its nearest recognised ancestor), and what was wrong with them.
type collected struct {
	spans   []*spanInfo // recognised, in request order
	ignored []*spanInfo // role other: counted, never emitted
	found   issues
}

// collect classifies every span of td (SPEC §4.1) into infos, one per span;
// malformed parts are repaired or recorded as issues.
func (t *Translator) collect(td ptrace.Traces, infos []spanInfo, st *Stats) collected {
	c := collected{spans: make([]*spanInfo, 0, len(infos))}
	k := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := ss.Scope()
			spans := ss.Spans()
			for n := 0; n < spans.Len(); n++ {
				span := spans.At(n)
				st.Spans++
				si := &infos[k]
				k++
				if !t.classify(res, scope, span, si, st, &c.found) {
					identify(si, res, span)
					if !si.traceID.IsEmpty() && !si.spanID.IsEmpty() {
						c.ignored = append(c.ignored, si)
					}
					continue
				}
				if normalise(si, res, span, &c.found) {
					c.spans = append(c.spans, si)
				}
			}
		}
	}
	return c
}

// classify runs the configured classifiers in order; false: the span is
// ignored (counted by reason in st). A classifier that panics on some
// attribute shape costs that span, never the call.
func (t *Translator) classify(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, si *spanInfo, st *Stats, found *issues) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			found.add("classifier_panic", nil)
			t.log.Warn("span classifier panicked; span skipped",
				zap.String("convention", si.convention), zap.Stringer("span_id", span.SpanID()))
			*si = spanInfo{ignoreReason: "classifier_panic"}
			ok = false
		}
	}()
	for _, c := range t.classifiers {
		*si = spanInfo{}
		si.convention = c.name()
		if c.classify(res, scope, span, si) {
			if si.role == roleOther {
				reason := si.ignoreReason
				if reason == "" {
					reason = "other"
				}
				st.SpansIgnored[reason]++
				return false
			}
			return true
		}
	}
	*si = spanInfo{ignoreReason: "unrecognised"}
	st.SpansIgnored["unrecognised"]++
	return false
}

// identify fills the identity of a span from the span itself.
func identify(si *spanInfo, res pcommon.Resource, span ptrace.Span) {
	si.span = span
	si.resource = res
	si.traceID = span.TraceID()
	si.spanID = span.SpanID()
	si.parentID = span.ParentSpanID()
	si.startNanos = uint64(span.StartTimestamp())
	si.endNanos = uint64(span.EndTimestamp())
}

// normalise fills the span identity and repairs or records malformed
// parts; false drops the span.
func normalise(si *spanInfo, res pcommon.Resource, span ptrace.Span, found *issues) bool {
	identify(si, res, span)
	if si.badReason != "" {
		found.add(si.badReason, si)
	}
	if si.traceID.IsEmpty() {
		found.add("missing_trace_id", si)
		return false
	}
	if si.endNanos < si.startNanos {
		found.add("end_before_start", si)
		si.endNanos = si.startNanos
	}
	if si.startNanos == 0 {
		found.add("missing_start_time", si)
	}
	invalid := false
	for _, p := range []*string{
		&si.threadID, &si.runID, &si.graphName, &si.nodeName, &si.model, &si.finishReason,
		&si.toolName, &si.callID, &si.routerChoice, &si.errorMessage, &si.exceptionType,
		&si.stackTrace, &si.graphEntryPoint,
	} {
		if *p != "" && !utf8.ValidString(*p) {
			*p = sanitiseUTF8(*p)
			invalid = true
		}
	}
	if invalid {
		found.add("invalid_utf8", si)
	}
	if si.role == roleNode && si.nodeName == "" {
		si.nodeName = span.Name()
		if !utf8.ValidString(si.nodeName) {
			si.nodeName = sanitiseUTF8(si.nodeName)
		}
	}
	boundNames(si, found)
	return true
}
