// Package redact keeps the contents of Secrets out of the plugin: out of its memory, and so
// out of client-go's debug log, which at -v=8 and above prints every response body.
//
// The plugin reads Secrets as metadata only (which keys exist, when they changed), but a
// Secret created with `kubectl apply` carries its whole data, base64 or plain, in the
// kubectl.kubernetes.io/last-applied-configuration annotation, and metadata-only responses
// include annotations. Secrets wraps the client's transport (rest.Config.Wrap) so that every
// response for a secrets URL reaches client-go, and its body logger, with that annotation's
// value replaced by Placeholder.
package redact

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Placeholder replaces the value of the last-applied-configuration annotation of Secrets.
const Placeholder = "(redacted by kubectl feastflow)"

// secretsPath matches the core API's secrets collection and objects, in one namespace or all,
// below any path prefix of the server URL (some proxies serve the API under a prefix).
var secretsPath = regexp.MustCompile(`/api/v1/(?:watch/)?(?:namespaces/[^/]+/)?secrets(?:/[^/]*)?$`)

// lastApplied matches the annotation and its JSON string value: the value is a quoted JSON
// string whose escaped quotes and backslashes the (?:[^"\\]|\\.)* alternation steps over.
var lastApplied = regexp.MustCompile(`("kubectl\.kubernetes\.io/last-applied-configuration"\s*:\s*)"(?:[^"\\]|\\.)*"`)

var placeholderJSON = []byte(strconv.Quote(Placeholder))

// Secrets wraps rt so that responses for Secrets carry no last-applied-configuration value.
// Requests for secrets ask for JSON only (a protobuf body cannot be edited without
// re-encoding it), and a response in any other content type is refused with an error
// rather than passed on unredacted. Other requests pass through untouched.
func Secrets(rt http.RoundTripper) http.RoundTripper {
	return &transport{next: rt}
}

type transport struct{ next http.RoundTripper }

// WrappedRoundTripper lets client-go reach the transport below (to cancel a request on
// --request-timeout) instead of logging that it cannot.
func (t *transport) WrappedRoundTripper() http.RoundTripper { return t.next }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !secretsPath.MatchString(req.URL.Path) {
		return t.next.RoundTrip(req)
	}
	// A RoundTripper must not modify the caller's request.
	req = req.Clone(req.Context())
	req.Header.Set("Accept", jsonOnly(req.Header.Get("Accept")))
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return resp, nil // an error from a proxy in front of the API server holds no Secret
		}
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 1))
		resp.Body.Close()
		if len(head) == 0 {
			resp.Body = http.NoBody
			return resp, nil
		}
		return nil, fmt.Errorf("%s %s: the server answered in %q, which kubectl feastflow cannot check for Secret data; it reads secrets as JSON only",
			req.Method, req.URL.Path, resp.Header.Get("Content-Type"))
	}
	if q := req.URL.Query().Get("watch"); q == "true" || q == "1" || strings.Contains(req.URL.Path, "/watch/") {
		// A watch is a stream of JSON documents, one per line: redact each as it arrives.
		resp.Body = &lineRedactor{r: bufio.NewReader(resp.Body), c: resp.Body}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", req.Method, req.URL.Path, err)
	}
	body = JSON(body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// JSON returns body with the value of every kubectl.kubernetes.io/last-applied-configuration
// annotation replaced by Placeholder; body stays valid JSON.
func JSON(body []byte) []byte {
	if !bytes.Contains(body, []byte("kubectl.kubernetes.io/last-applied-configuration")) {
		return body
	}
	return lastApplied.ReplaceAll(body, append([]byte("${1}"), placeholderJSON...))
}

// jsonOnly keeps the JSON media ranges of an Accept header (client-go's metadata client asks
// for protobuf first, then JSON).
func jsonOnly(accept string) string {
	var keep []string
	for _, r := range strings.Split(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(r)); err == nil && mt == "application/json" {
			keep = append(keep, strings.TrimSpace(r))
		}
	}
	if len(keep) == 0 {
		return "application/json"
	}
	return strings.Join(keep, ",")
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// lineRedactor redacts a newline-delimited stream of JSON documents one line at a time.
type lineRedactor struct {
	r       *bufio.Reader
	c       io.Closer
	pending []byte
	err     error
}

func (l *lineRedactor) Read(p []byte) (int, error) {
	for len(l.pending) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		var line []byte
		line, l.err = l.r.ReadBytes('\n')
		l.pending = JSON(line)
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

func (l *lineRedactor) Close() error { return l.c.Close() }
