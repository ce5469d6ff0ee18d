package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// podIPIndex indexes the pod informer by pod IP.
const podIPIndex = "podIP"

// EgressServer answers the apiserver's "cluster" egress: HTTP CONNECT requests on a Unix
// socket (the konnectivity HTTPConnect protocol). A CONNECT to a loopback address (kwok's
// kubelet server, for logs and exec) is passed through; a CONNECT to a pod IP is answered
// in-process by that pod's simulated app; any other address is refused. Nothing dials the
// pod network, which does not exist on this machine.
type EgressServer struct {
	// Client reads pods, to find the pod behind an IP and its annotations.
	Client kubernetes.Interface
	// Log receives one line per refused connection and per ignored annotation.
	Log *log.Logger
	// Now is the clock of the simulated traffic (time.Now when nil).
	Now func() time.Time

	pods cache.Indexer

	mu   sync.Mutex
	apps map[string]*simApp // by pod UID
}

// Run serves l until ctx ends. It watches pods first, so that pod IPs resolve from a
// cache; an IP the cache does not know yet is looked up with one LIST.
func (s *EgressServer) Run(ctx context.Context, l net.Listener) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = log.New(io.Discard, "", 0)
	}
	s.apps = map[string]*simApp{}
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	inf := factory.Core().V1().Pods().Informer()
	if err := inf.AddIndexers(cache.Indexers{podIPIndex: indexPodIPs}); err != nil {
		return err
	}
	s.pods = inf.GetIndexer()
	factory.Start(ctx.Done())
	srv := &http.Server{Handler: http.HandlerFunc(s.serveConnect), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func indexPodIPs(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = append(ips, pod.Status.PodIP)
	}
	return ips, nil
}

// serveConnect handles one CONNECT. A refusal is answered with a non-200 status whose text
// the apiserver puts into its "error trying to reach service" message.
func (s *EgressServer) serveConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "only CONNECT is served here", http.StatusMethodNotAllowed)
		return
	}
	host, portText, err := net.SplitHostPort(r.Host)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil {
		http.Error(w, "bad CONNECT address "+r.Host, http.StatusBadRequest)
		return
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		s.passThrough(w, r.Host)
		return
	}
	pod, err := s.podByIP(r.Context(), host)
	if err != nil || pod == nil {
		s.refuse(w, r.Host, "no pod has this IP")
		return
	}
	if s.app(pod).b.refuses(port) {
		s.refuse(w, r.Host, "pod "+pod.Namespace+"/"+pod.Name+" refuses port "+portText)
		return
	}
	conn, err := hijack(w)
	if err != nil {
		return
	}
	// One HTTP server per tunnel: the apiserver speaks plain HTTP to the "pod" through it and
	// keeps the tunnel alive, so the app is looked up again per request: an annotation
	// changed since the tunnel opened takes effect at once.
	podIP := host
	perRequest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod, err := s.podByIP(r.Context(), podIP)
		if err != nil || pod == nil {
			http.Error(w, "pod gone", http.StatusBadGateway)
			return
		}
		app := s.app(pod)
		if app.b.refuses(port) {
			// The port closed since the tunnel opened: drop the connection unanswered, as a
			// reset would; the apiserver's transport retries on a new CONNECT, which is refused.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
				}
			}
			return
		}
		app.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: perRequest, ReadHeaderTimeout: 30 * time.Second}
	_ = srv.Serve(newOneConnListener(conn))
}

// refuse answers a CONNECT the way a closed port would be reported. The apiserver puts only
// the status line into its "error trying to reach service" message, so the reason phrase
// carries the dialer-like text (net/http cannot set a reason phrase: write it raw).
func (s *EgressServer) refuse(w http.ResponseWriter, addr, why string) {
	s.Log.Printf("refused CONNECT %s: %s", addr, why)
	reason := strings.NewReplacer("\r", " ", "\n", " ").Replace(fmt.Sprintf("dial tcp %s: connect: connection refused (%s)", addr, why))
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = fmt.Fprintf(conn, "HTTP/1.1 503 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", reason)
}

// passThrough tunnels to a loopback address: kwok's kubelet server for logs and exec.
func (s *EgressServer) passThrough(w http.ResponseWriter, addr string) {
	backend, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		s.refuse(w, addr, err.Error())
		return
	}
	conn, err := hijack(w)
	if err != nil {
		_ = backend.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(backend, conn)
	go pipe(conn, backend)
	<-done
	<-done
	_ = conn.Close()
	_ = backend.Close()
}

// hijack answers 200 to the CONNECT and returns the raw connection, with any bytes the
// client sent after its CONNECT still readable.
func hijack(w http.ResponseWriter) (net.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return nil, errors.New("response writer cannot hijack")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if rw.Reader.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: rw.Reader}, nil
	}
	return conn, nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// podByIP finds the live pod holding ip: from the informer cache, else with one LIST by
// field selector (a pod created a moment ago may not be cached yet).
func (s *EgressServer) podByIP(ctx context.Context, ip string) (*corev1.Pod, error) {
	objs, err := s.pods.ByIndex(podIPIndex, ip)
	if err != nil {
		return nil, err
	}
	if pod := livePod(objs); pod != nil {
		return pod, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := s.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("status.podIP", ip).String()})
	if err != nil {
		return nil, err
	}
	objs = objs[:0]
	for i := range list.Items {
		// Filter again: a field selector is a request, and not every server (or fake) honours it.
		ips, _ := indexPodIPs(&list.Items[i])
		if slices.Contains(ips, ip) {
			objs = append(objs, &list.Items[i])
		}
	}
	return livePod(objs), nil
}

// livePod returns a pod that is not finished; a terminating pod still answers, as a real
// one does until its containers stop.
func livePod(objs []any) *corev1.Pod {
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			return pod
		}
	}
	return nil
}

// app returns the pod's simulated app, rebuilt when its annotations changed (the counters
// of real requests start again then, like a restarted process).
func (s *EgressServer) app(pod *corev1.Pod) *simApp {
	b, problems := parseSimBehaviour(pod)
	key := string(pod.UID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[key]; ok && sameBehaviour(a.b, b) {
		return a
	}
	for _, p := range problems {
		s.Log.Print(p)
	}
	a := newSimApp(pod.Name, b, s.Now)
	s.apps[key] = a
	return a
}

func sameBehaviour(a, b simBehaviour) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// oneConnListener is a net.Listener that yields one connection, then blocks until that
// connection is closed, so an http.Server can serve a single hijacked tunnel.
type oneConnListener struct {
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
	first  chan net.Conn
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{closed: make(chan struct{}), first: make(chan net.Conn, 1)}
	l.conn = &notifyConn{Conn: c, onClose: l.close}
	l.first <- l.conn
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.first:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) close()         { l.once.Do(func() { close(l.closed) }) }
func (l *oneConnListener) Close() error   { l.close(); return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type notifyConn struct {
	net.Conn
	onClose func()
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.onClose()
	return err
}
