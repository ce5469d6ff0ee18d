package troubleshoot

import (
	"fmt"
	"sort"
	"strings"
)

// Impact says what a finding does to the users of the app, the first ranking key: an
// on-call engineer fixes what is down before what is slow before what will break later.
type Impact string

// The impacts, worst first.
const (
	// ImpactOutage: a Service with no ready endpoint, or one that refuses every request.
	ImpactOutage Impact = "outage"
	// ImpactDegraded: fewer ready than desired, or an old version still serving.
	ImpactDegraded Impact = "degraded"
	// ImpactAtRisk: breaks on the next rollout, drain, reschedule or config read.
	ImpactAtRisk Impact = "at-risk"
	// ImpactHygiene: leftovers and configuration worth cleaning up.
	ImpactHygiene Impact = "hygiene"
)

// Rank orders impacts: outage 4, degraded 3, at-risk 2, hygiene 1.
func (i Impact) Rank() int {
	switch i {
	case ImpactOutage:
		return 4
	case ImpactDegraded:
		return 3
	case ImpactAtRisk:
		return 2
	case ImpactHygiene:
		return 1
	}
	return 0
}

// categoryImpact is the impact of a category when the analyzer did not set one.
var categoryImpact = map[Category]Impact{
	CategoryServiceNoPods:   ImpactOutage,
	CategoryServiceColor:    ImpactOutage,
	CategoryStaleConfig:     ImpactAtRisk,
	CategoryNodePressure:    ImpactAtRisk,
	CategoryPDBBlocking:     ImpactAtRisk,
	CategoryNoEndpointSlice: ImpactAtRisk,
	CategoryEvicted:         ImpactHygiene,
}

func defaultImpact(f *Finding) Impact {
	if i, ok := categoryImpact[f.Category]; ok {
		return i
	}
	switch f.Severity {
	case SeverityError:
		return ImpactDegraded
	case SeverityWarning:
		return ImpactAtRisk
	}
	return ImpactHygiene
}

// svcHealth is what the Service analyzer learned about one Service.
type svcHealth struct {
	// down: no ready endpoint, or every request refused (no pod, no target port).
	down bool
}

func (a *analysis) serviceDown(ns, name string) bool {
	h := a.svcHealth[key(ns, name)]
	return h != nil && h.down
}

func (a *analysis) markDown(ns, name string) {
	h := a.svcHealth[key(ns, name)]
	if h == nil {
		h = &svcHealth{}
		a.svcHealth[key(ns, name)] = h
	}
	h.down = true
}

// fold makes one finding per root cause: a symptom whose cause is another finding becomes a
// line of that finding ("affects service X: 1 of 2 endpoints not ready") and raises its
// impact to the symptom's. Then every outage is an error.
func fold(fs []Finding) []Finding {
	gone := make([]bool, len(fs))
	// Not-ready endpoints whose pods are all explained by pod findings.
	for i := range fs {
		f := &fs[i]
		if f.Category != CategoryNotReadyEndpoints || len(f.Pods) == 0 {
			continue
		}
		covered := map[string]bool{}
		var causes []int
		for j := range fs {
			c := &fs[j]
			if j == i || c.Object.Namespace != f.Object.Namespace || c.Object.Kind == "Service" || c.Object.Kind == "Node" || c.Failure == nil {
				continue
			}
			hit := 0
			for _, p := range c.Pods {
				if contains(f.Pods, p) {
					covered[p] = true
					hit++
				}
			}
			if hit > 0 {
				causes = append(causes, j)
			}
		}
		if len(covered) < len(f.Pods) {
			continue
		}
		for _, j := range causes {
			c := &fs[j]
			var mine []string
			for _, p := range c.Pods {
				if contains(f.Pods, p) {
					mine = append(mine, p)
				}
			}
			line := fmt.Sprintf("affects service %s: %d of %d endpoints not ready (%s)", f.Object.Name, len(mine), f.endpointsTotal, strings.Join(capList(mine), ", "))
			if f.endpointsReady == 0 {
				line = fmt.Sprintf("affects service %s: none of its %d endpoints is ready, the service is down", f.Object.Name, f.endpointsTotal)
			}
			c.addAffect(line, f.Object, f.Impact)
		}
		gone[i] = true
	}
	// A stuck rollout is its pods' failure seen from the Deployment.
	for i := range fs {
		f := &fs[i]
		if f.Category != CategoryDeploymentStuck {
			continue
		}
		for j := range fs {
			c := &fs[j]
			if j == i || gone[j] || c.Object != f.Object || c.Category == CategoryDeploymentStuck {
				continue
			}
			c.Details = append(c.Details, f.Cause)
			c.Evidence.Status = append(c.Evidence.Status, f.Evidence.Status...)
			c.Evidence.Events = append(c.Evidence.Events, f.Evidence.Events...)
			if len(f.revert) > 0 && (len(c.Fix) == 0 || !strings.HasPrefix(c.Fix[0], "kubectl rollout undo")) {
				c.Fix = append(append([]string{}, f.revert...), c.Fix...)
			}
			gone[i] = true
			break
		}
	}
	// Symptoms that name the object of their cause (an Ingress in front of a down Service).
	for i := range fs {
		f := &fs[i]
		if len(f.symptomOf) == 0 {
			continue
		}
		// Pod failures are the causes; other findings of the object only when there is none.
		hit := false
		for _, failuresOnly := range []bool{true, false} {
			for j := range fs {
				c := &fs[j]
				if j == i || gone[j] || len(c.symptomOf) > 0 || (failuresOnly && c.Failure == nil) {
					continue
				}
				for _, o := range f.symptomOf {
					if c.Object == o || c.affectsObj(o) {
						c.addAffect(f.symptom, f.Object, f.Impact)
						hit = true
						break
					}
				}
			}
			if hit {
				break
			}
		}
		gone[i] = hit
	}
	out := fs[:0]
	for i := range fs {
		if !gone[i] {
			out = append(out, fs[i])
		}
	}
	for i := range out {
		if out[i].Impact == ImpactOutage {
			out[i].Severity = SeverityError
		}
	}
	return out
}

func (f *Finding) addAffect(line string, obj ObjectRef, impact Impact) {
	if !contains(f.Affects, line) {
		f.Affects = append(f.Affects, line)
	}
	f.affects = append(f.affects, obj)
	if impact.Rank() > f.Impact.Rank() {
		f.Impact = impact
	}
}

func (f *Finding) affectsObj(o ObjectRef) bool {
	for _, x := range f.affects {
		if x == o {
			return true
		}
	}
	return false
}

// rank sorts findings: impact, severity, confidence, then object and category so that the
// order is stable from one run to the next.
func rank(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i], &fs[j]
		if a.Impact.Rank() != b.Impact.Rank() {
			return a.Impact.Rank() > b.Impact.Rank()
		}
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Confidence.rank() != b.Confidence.rank() {
			return a.Confidence.rank() > b.Confidence.rank()
		}
		if a.Object.Namespace != b.Object.Namespace {
			return a.Object.Namespace < b.Object.Namespace
		}
		if a.Object.Name != b.Object.Name {
			return a.Object.Name < b.Object.Name
		}
		if a.Object.Kind != b.Object.Kind {
			return a.Object.Kind < b.Object.Kind
		}
		return a.Category < b.Category
	})
}
