package audit

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

var now = time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)

func TestParseDryRun(t *testing.T) {
	for in, want := range map[string]DryRun{"": DryRunNone, "none": DryRunNone, "client": DryRunClient, "server": DryRunServer} {
		got, err := ParseDryRun(in)
		if err != nil || got != want {
			t.Errorf("ParseDryRun(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"bogus", "true", "All", "Server"} {
		if _, err := ParseDryRun(bad); err == nil {
			t.Errorf("ParseDryRun(%q) accepted", bad)
		}
	}
}

func TestWriteOptions(t *testing.T) {
	tests := []struct {
		w            *Writer
		dryRun       []string
		client, live bool
	}{
		{nil, nil, false, true},
		{&Writer{}, nil, false, true},
		{&Writer{DryRun: DryRunNone}, nil, false, true},
		{&Writer{DryRun: DryRunClient}, nil, true, false},
		{&Writer{DryRun: DryRunServer}, []string{metav1.DryRunAll}, false, false},
	}
	for _, tt := range tests {
		p, u, c, d := tt.w.PatchOptions(), tt.w.UpdateOptions(), tt.w.CreateOptions(), tt.w.DeleteOptions()
		if p.FieldManager != FieldManager || u.FieldManager != FieldManager || c.FieldManager != FieldManager {
			t.Errorf("%+v: field manager %q/%q/%q", tt.w, p.FieldManager, u.FieldManager, c.FieldManager)
		}
		for _, got := range [][]string{p.DryRun, u.DryRun, c.DryRun, d.DryRun} {
			if !reflect.DeepEqual(got, tt.dryRun) {
				t.Errorf("%+v: dryRun %v, want %v", tt.w, got, tt.dryRun)
			}
		}
		if tt.w.Client() != tt.client || tt.w.Live() != tt.live {
			t.Errorf("%+v: Client %v Live %v", tt.w, tt.w.Client(), tt.w.Live())
		}
	}
}

func TestOperationRoundTrip(t *testing.T) {
	w := &Writer{User: "alice", Reason: "release 1.2", OverrideWindow: "hotfix", Now: func() time.Time { return now }}
	op := w.Operation("switch", "blue", "green")
	if !op.Time.Equal(now.Truncate(time.Second)) {
		t.Errorf("time %v not truncated to the second", op.Time)
	}
	got, ok := ParseOperation(map[string]string{LastOperationAnnotation: op.Annotation()})
	if !ok || !reflect.DeepEqual(got, op) {
		t.Errorf("ParseOperation = %+v, %v; want %+v", got, ok, op)
	}
	if want := "switch from blue to green by alice: release 1.2 (deployment window overridden: hotfix)"; op.Message() != want {
		t.Errorf("Message = %q, want %q", op.Message(), want)
	}
	if _, ok := ParseOperation(map[string]string{LastOperationAnnotation: "{not json"}); ok {
		t.Error("a broken annotation parsed")
	}
	if _, ok := ParseOperation(nil); ok {
		t.Error("no annotation parsed")
	}
	if msg := (Operation{Verb: "scale", To: "3"}).Message(); msg != "scale to 3" {
		t.Errorf("Message = %q", msg)
	}
	var nilWriter *Writer
	if op := nilWriter.Operation("cordon", "", ""); op.Verb != "cordon" || op.User != "" {
		t.Errorf("nil writer operation %+v", op)
	}
}

func TestAnnotationPatch(t *testing.T) {
	op := Operation{Verb: "promote", Time: now}
	keep := "v2"
	patch := AnnotationPatch(op, map[string]*string{"feastflow.dev/previous": &keep, "feastflow.dev/stale": nil})
	b, err := json.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata struct {
			Annotations map[string]*string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	ann := got.Metadata.Annotations
	if ann[LastOperationAnnotation] == nil || *ann[LastOperationAnnotation] != op.Annotation() {
		t.Errorf("last-operation = %v", ann[LastOperationAnnotation])
	}
	if v, ok := ann["feastflow.dev/stale"]; !ok || v != nil {
		t.Errorf("a nil extra must be null in the merge patch (delete): %s", b)
	}
	if ann["feastflow.dev/previous"] == nil || *ann["feastflow.dev/previous"] != "v2" {
		t.Errorf("extra annotation lost: %s", b)
	}
}

func TestEvent(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", UID: "u1"}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	tests := []struct {
		name   string
		w      *Writer
		ref    corev1.ObjectReference
		wantNS string // "" means no event
	}{
		{"namespaced object", &Writer{User: "alice", Now: func() time.Time { return now }}, Ref("Service", "v1", svc), "shop"},
		{"node events go to default", &Writer{}, Ref("Node", "v1", node), metav1.NamespaceDefault},
		{"client dry run sends nothing", &Writer{DryRun: DryRunClient}, Ref("Service", "v1", svc), ""},
		{"server dry run sends nothing", &Writer{DryRun: DryRunServer}, Ref("Service", "v1", svc), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			op := tt.w.Operation("switch", "blue", "green")
			if err := tt.w.Event(context.Background(), client, tt.ref, corev1.EventTypeNormal, "Switched", op); err != nil {
				t.Fatal(err)
			}
			events, err := client.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNS == "" {
				if len(events.Items) != 0 {
					t.Errorf("dry run created %d events", len(events.Items))
				}
				return
			}
			if len(events.Items) != 1 {
				t.Fatalf("%d events, want 1", len(events.Items))
			}
			ev := events.Items[0]
			if ev.Namespace != tt.wantNS || ev.InvolvedObject.Name != tt.ref.Name || ev.Reason != "Switched" ||
				ev.Message != op.Message() || ev.Source.Component != EventSource || ev.ReportingController != EventSource {
				t.Errorf("event %+v", ev)
			}
		})
	}
}
