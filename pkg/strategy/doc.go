// Package strategy is the release workflow of kubectl-feastflow: it finds components (a
// Service and the Deployments its selector can reach), recognises their strategy
// (rolling, recreate, blue-green, canary), reports their status, and performs the release
// operations (deploy, switch, canary-step, promote, abort, rollback, scale…) from the
// client, recording each on the objects it changes. It imports no cobra: pkg/plugin turns
// flags into its inputs and its results into output.
package strategy
