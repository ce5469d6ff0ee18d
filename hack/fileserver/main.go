// Command fileserver serves a directory over plain HTTP on 127.0.0.1, the stand-in for a
// release download site in hack/krew-e2e.sh: krew v0.4.3 downloads a manifest's uri with
// net/http (http:// and https:// only) and checks the archive's sha256 whatever the scheme.
//
// It listens on a free port, writes its base URL to -url-file once it accepts connections,
// and logs one line per request (method, path, status, bytes) to stderr, so that the script
// can show which archives krew fetched.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	urlFile := flag.String("url-file", "", "write the base URL (http://127.0.0.1:PORT) here once listening")
	flag.Parse()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("fileserver: listen: %v", err)
	}
	url := "http://" + ln.Addr().String()
	if *urlFile != "" {
		// Written to a temporary name and renamed, so that a reader never sees half a URL.
		tmp := *urlFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(url+"\n"), 0o600); err != nil {
			log.Fatalf("fileserver: %v", err)
		}
		if err := os.Rename(tmp, *urlFile); err != nil {
			log.Fatalf("fileserver: %v", err)
		}
	}
	files := http.FileServer(http.Dir(*dir))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		files.ServeHTTP(rec, r)
		fmt.Fprintf(os.Stderr, "fileserver: %s %s %d %d bytes\n", r.Method, r.URL.Path, rec.status, rec.bytes)
	})
	log.Fatal(http.Serve(ln, handler))
}

// recorder remembers the status and size of a response for the request log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}
