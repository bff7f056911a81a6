package translate

import "go.uber.org/zap"

// issue is one piece of bad input a stage of the translation met: the
// reason it is counted under (Stats.BadInput) and the span it came from.
type issue struct {
	reason string
	si     *spanInfo
}

// issues is what the stages of one call (collect, assemble, emit) found
// wrong with their input. They hand it back as data; Translate counts and
// logs it once at the end (account), so no stage calls into another's file
// to do its bookkeeping.
type issues []issue

// add records reason for si (nil when no span is at fault).
func (l *issues) add(reason string, si *spanInfo) {
	*l = append(*l, issue{reason: reason, si: si})
}

// account counts each issue in st.BadInput and logs it without any value.
func (t *Translator) account(l issues, st *Stats) {
	var unnamed []*spanInfo
	for _, is := range l {
		if is.reason == badFlatNodeNameUnknown {
			unnamed = append(unnamed, is.si)
		}
		st.BadInput[is.reason]++
		if ce := t.log.Check(zap.DebugLevel, "bad input skipped"); ce != nil {
			fields := []zap.Field{zap.String("reason", is.reason)}
			if is.si != nil {
				fields = append(fields, zap.String("convention", is.si.convention),
					zap.Stringer("trace_id", is.si.traceID), zap.Stringer("span_id", is.si.spanID))
			}
			ce.Write(fields...)
		}
	}
	if len(unnamed) > 0 {
		t.log.Info("node names unknown: the spans do not name the nodes (OpenLLMetry JS); "+
			"executions not named by a router choice keep the span's name",
			zap.String("run_id", unnamed[0].run), zap.Int("executions", len(unnamed)), zap.String("name", unnamed[0].span.Name()))
	}
}
