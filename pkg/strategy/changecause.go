package strategy

import (
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// ChangeCauseAnnotation is the annotation `kubectl rollout history` shows as CHANGE-CAUSE;
// deploy sets it so that the history says which feastflow command made each revision.
const ChangeCauseAnnotation = polymorphichelpers.ChangeCauseAnnotation

// changeCause is the kubernetes.io/change-cause of a revision the plugin makes: the
// command, who ran it and why.
func changeCause(command string, op audit.Operation) string {
	cause := "kubectl feastflow " + command
	if op.User != "" {
		cause += " by " + op.User
	}
	if op.Reason != "" {
		cause += ": " + op.Reason
	}
	return cause
}
