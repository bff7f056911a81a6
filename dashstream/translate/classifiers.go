package translate

import "fmt"

// classifierConstructors maps each convention name to the constructor of its
// classifier. Conventions of SPEC §4.1 that are missing here are rejected by
// Config.Validate.
func classifierConstructors() map[string]func() classifier {
	return map[string]func() classifier{
		ConventionDashStream:    newDashStreamClassifier,
		ConventionOpenInference: newOpenInferenceClassifier,
		ConventionOpenLLMetry:   newOpenLLMetryClassifier,
		ConventionLangfuse:      newLangfuseClassifier,
		ConventionGenAI:         newGenAIClassifier,
		ConventionDashFlow:      newDashFlowClassifier,
	}
}

// buildClassifiers resolves Config.Conventions into classifiers, in order.
func buildClassifiers(names []string) ([]classifier, error) {
	ctors := classifierConstructors()
	out := make([]classifier, 0, len(names))
	for _, n := range names {
		ctor, ok := ctors[n]
		if !ok {
			return nil, fmt.Errorf("conventions: unknown convention %q", n)
		}
		out = append(out, ctor())
	}
	return out, nil
}
