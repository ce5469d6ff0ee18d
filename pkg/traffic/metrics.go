package traffic

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Series names the standard metrics analysis reads; every field is configurable.
type Series struct {
	// Requests is a counter of answered requests with the status code in CodeLabel
	// (default http_requests_total, label "code").
	Requests  string `json:"requests"`
	CodeLabel string `json:"codeLabel"`
	// Latency is a histogram of request durations in seconds (default
	// http_request_duration_seconds).
	Latency string `json:"latency"`
}

// DefaultSeries are the conventional names of Prometheus' client libraries.
func DefaultSeries() Series {
	return Series{Requests: "http_requests_total", CodeLabel: "code", Latency: "http_request_duration_seconds"}
}

// Sample is what one scrape of a pod's /metrics says: cumulative counts since the process
// started.
type Sample struct {
	Requests float64
	Errors   float64 // answers with a 5xx code
	// Buckets are the latency histogram's cumulative counts by upper bound (+Inf included).
	Buckets map[float64]float64
}

// ParseSample reads the Prometheus text exposition with expfmt and sums the series over
// their other labels (method, handler, ...).
func ParseSample(text []byte, s Series) (Sample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return Sample{}, fmt.Errorf("parse metrics: %w", err)
	}
	out := Sample{Buckets: map[float64]float64{}}
	reqs, ok := families[s.Requests]
	if !ok {
		return out, fmt.Errorf("no %s series in /metrics (set the name with --requests-metric)", s.Requests)
	}
	for _, m := range reqs.GetMetric() {
		v := counterValue(m)
		out.Requests += v
		if code := labelValue(m, s.CodeLabel); strings.HasPrefix(code, "5") {
			out.Errors += v
		}
	}
	if lat, ok := families[s.Latency]; ok && lat.GetType() == dto.MetricType_HISTOGRAM {
		for _, m := range lat.GetMetric() {
			h := m.GetHistogram()
			inf := false
			for _, b := range h.GetBucket() {
				out.Buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				inf = inf || math.IsInf(b.GetUpperBound(), 1)
			}
			if !inf {
				out.Buckets[math.Inf(1)] += float64(h.GetSampleCount())
			}
		}
	}
	return out, nil
}

func counterValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Delta is what happened between two samples of one pod. A counter that went down means
// the process restarted; the later sample then counts from zero.
func Delta(before, after Sample) Sample {
	reset := after.Requests < before.Requests
	d := Sample{Buckets: map[float64]float64{}}
	sub := func(a, b float64) float64 {
		if reset {
			return a
		}
		return math.Max(0, a-b)
	}
	d.Requests = sub(after.Requests, before.Requests)
	d.Errors = sub(after.Errors, before.Errors)
	for le, v := range after.Buckets {
		d.Buckets[le] = sub(v, before.Buckets[le])
	}
	return d
}

// Add sums samples of several pods of one track.
func (s *Sample) Add(o Sample) {
	s.Requests += o.Requests
	s.Errors += o.Errors
	if s.Buckets == nil {
		s.Buckets = map[float64]float64{}
	}
	for le, v := range o.Buckets {
		s.Buckets[le] += v
	}
}

// Quantile estimates the q-quantile of the latency histogram the way PromQL's
// histogram_quantile does: linear interpolation inside the bucket that holds it (the
// highest finite bound when it falls into +Inf). ok is false without observations.
func (s Sample) Quantile(q float64) (float64, bool) {
	bounds := make([]float64, 0, len(s.Buckets))
	for le := range s.Buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0, false
	}
	total := s.Buckets[bounds[len(bounds)-1]]
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		c := s.Buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevBound, true
			}
			if c == prevCount {
				return le, true
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(c-prevCount), true
		}
		prevBound, prevCount = le, c
	}
	return prevBound, true
}
