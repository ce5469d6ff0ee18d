// Package audit records what the plugin changed on the objects it changed: the
// feastflow.dev/last-operation annotation, a Kubernetes Event, and the write options
// (dry run, field manager) every write of the plugin carries. Every library that writes
// to the API takes a *Writer so that a reader finds the audit trail in one place.
package audit
