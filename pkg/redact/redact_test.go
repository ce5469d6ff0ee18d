package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

const planted = "hunter2-Zq8vX" // the Secret value that must never come out

// lastAppliedOf is the annotation kubectl apply writes: the applied object as JSON.
func lastAppliedOf(name string) string {
	return `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"` + name + `","namespace":"shop"},"stringData":{"password":"` + planted + `\"quoted\\"}}` + "\n"
}

func secretList(names ...string) []byte {
	list := metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"}}
	for _, n := range names {
		list.Items = append(list.Items, metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
			ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "shop", Annotations: map[string]string{
				"kubectl.kubernetes.io/last-applied-configuration": lastAppliedOf(n),
				"team": "payments",
			}},
		})
	}
	b, err := json.Marshal(list)
	if err != nil {
		panic(err)
	}
	return b
}

func TestJSONReplacesOnlyTheLastAppliedValue(t *testing.T) {
	in := secretList("db", "api")
	if !bytes.Contains(in, []byte(planted)) {
		t.Fatal("the fixture does not carry the planted value")
	}
	out := JSON(in)
	if bytes.Contains(out, []byte(planted)) {
		t.Fatalf("planted value still in %s", out)
	}
	var list metav1.PartialObjectMetadataList
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("redacted body is not JSON: %v\n%s", err, out)
	}
	if len(list.Items) != 2 {
		t.Fatalf("got %d items, want 2", len(list.Items))
	}
	for _, it := range list.Items {
		if got := it.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; got != Placeholder {
			t.Errorf("%s: last-applied = %q, want %q", it.Name, got, Placeholder)
		}
		if it.Annotations["team"] != "payments" {
			t.Errorf("%s: other annotations changed: %v", it.Name, it.Annotations)
		}
	}
	plain := []byte(`{"metadata":{"name":"x","annotations":{"team":"payments"}}}`)
	if got := JSON(plain); !bytes.Equal(got, plain) {
		t.Errorf("a body without the annotation changed: %s", got)
	}
}

func TestJSONOnly(t *testing.T) {
	for in, want := range map[string]string{
		"application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
		"application/vnd.kubernetes.protobuf": "application/json",
		"":                                    "application/json",
		"application/json, */*":               "application/json",
	} {
		if got := jsonOnly(in); got != want {
			t.Errorf("jsonOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// apiServer answers secrets and configmaps lists like the API server, and records the Accept
// header of each request.
type apiServer struct {
	mu      sync.Mutex
	accepts map[string]string
	proto   bool // answer secrets in protobuf
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.accepts == nil {
		s.accepts = map[string]string{}
	}
	s.accepts[r.URL.Path] = r.Header.Get("Accept")
	s.mu.Unlock()
	switch {
	case s.proto:
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		_, _ = w.Write([]byte("k8s\x00..." + planted))
	case r.URL.Query().Get("watch") == "true":
		w.Header().Set("Content-Type", "application/json")
		for _, n := range []string{"db", "api"} {
			var item metav1.PartialObjectMetadataList
			_ = json.Unmarshal(secretList(n), &item)
			ev, _ := json.Marshal(metav1.WatchEvent{Type: "ADDED", Object: rawJSON(item.Items[0])})
			_, _ = w.Write(append(ev, '\n'))
			w.(http.Flusher).Flush()
		}
	default:
		w.Header().Set("Content-Type", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
		_, _ = w.Write(secretList("db", "api"))
	}
}

func rawJSON(o metav1.PartialObjectMetadata) (r runtime.RawExtension) {
	r.Raw, _ = json.Marshal(o)
	return r
}

func newMetadataClient(t *testing.T, srv *httptest.Server) metadata.Interface {
	t.Helper()
	cfg := &rest.Config{Host: srv.URL}
	cfg.Wrap(Secrets)
	c, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

func TestSecretsTransportRedactsMetadataLists(t *testing.T) {
	api := &apiServer{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newMetadataClient(t, srv)

	list, err := c.Resource(secrets).Namespace("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("got %d secrets, want 2", len(list.Items))
	}
	for _, it := range list.Items {
		if got := it.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; got != Placeholder {
			t.Errorf("%s: last-applied = %q, want the placeholder", it.Name, got)
		}
	}
	if got := api.accepts["/api/v1/namespaces/shop/secrets"]; strings.Contains(got, "protobuf") {
		t.Errorf("secrets were asked for in protobuf: Accept %q", got)
	}

	// ConfigMaps hold no secrets: their annotation and content negotiation are left alone.
	cms, err := c.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cms.Items[0].Annotations["kubectl.kubernetes.io/last-applied-configuration"]; got != lastAppliedOf("db") {
		t.Errorf("configmap annotation changed to %q", got)
	}
	if got := api.accepts["/api/v1/namespaces/shop/configmaps"]; !strings.Contains(got, "protobuf") {
		t.Errorf("configmaps lost their Accept header: %q", got)
	}
}

func TestSecretsTransportRedactsWatches(t *testing.T) {
	srv := httptest.NewServer(&apiServer{})
	defer srv.Close()
	c := newMetadataClient(t, srv)
	w, err := c.Resource(secrets).Namespace("shop").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for range 2 {
		ev := <-w.ResultChan()
		m, ok := ev.Object.(*metav1.PartialObjectMetadata)
		if !ok {
			t.Fatalf("event %s carries %T", ev.Type, ev.Object)
		}
		if got := m.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; got != Placeholder {
			t.Errorf("watched %s: last-applied = %q", m.Name, got)
		}
	}
}

func TestSecretsTransportRefusesBodiesItCannotRedact(t *testing.T) {
	srv := httptest.NewServer(&apiServer{proto: true})
	defer srv.Close()
	c := newMetadataClient(t, srv)
	_, err := c.Resource(secrets).Namespace("shop").List(context.Background(), metav1.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "reads secrets as JSON only") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if strings.Contains(err.Error(), planted) {
		t.Fatalf("the error carries the planted value: %v", err)
	}
}

// TestSecretsNeverInTheBodyLog lists secrets with client-go's body logging at its most
// verbose (-v=10 prints whole bodies) through both the metadata and the typed client.
func TestSecretsNeverInTheBodyLog(t *testing.T) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	var logged bytes.Buffer
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	_ = fs.Set("v", "10")
	klog.SetOutput(&logged)
	defer func() {
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
		klog.SetOutput(io.Discard)
	}()

	srv := httptest.NewServer(&apiServer{})
	defer srv.Close()
	if _, err := newMetadataClient(t, srv).Resource(secrets).Namespace("shop").List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: srv.URL}
	cfg.Wrap(Secrets)
	kube := kubernetes.NewForConfigOrDie(cfg)
	_, _ = kube.CoreV1().Secrets("shop").List(context.Background(), metav1.ListOptions{})
	klog.Flush()

	out := logged.String()
	if !strings.Contains(out, "Response Body") {
		t.Fatalf("client-go logged no response body at -v=10; the test proves nothing:\n%s", out)
	}
	if strings.Contains(out, planted) {
		t.Fatalf("the planted Secret value is in the -v=10 log:\n%s", out)
	}
	if !strings.Contains(out, Placeholder) {
		t.Errorf("the log does not show the placeholder:\n%s", out)
	}
}
