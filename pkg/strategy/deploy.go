package strategy

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// ImageSpec is one --image value: a container (empty: the Deployment's only app container;
// "*": every container and init container) and the image to run in it.
type ImageSpec struct {
	Container string `json:"container,omitempty"`
	Image     string `json:"image"`
}

// ParseImageSpec parses "[CONTAINER=]IMAGE".
func ParseImageSpec(s string) (ImageSpec, error) {
	name, image, hasName := strings.Cut(s, "=")
	if !hasName {
		name, image = "", s
	}
	name, image = strings.TrimSpace(name), strings.TrimSpace(image)
	if image == "" || (hasName && name == "") || strings.ContainsAny(image, " \t") {
		return ImageSpec{}, fmt.Errorf("invalid --image %q: want IMAGE or CONTAINER=IMAGE, e.g. --image backend=ghcr.io/feastflow/backend:1.5.0", s)
	}
	return ImageSpec{Container: name, Image: image}, nil
}

// DeployOptions tune Deploy.
type DeployOptions struct {
	// Images are the images to set (at least one).
	Images []ImageSpec
	// Replicas overrides the replica count: blue-green scales the idle color to it instead
	// of the live color's count; nil keeps the strategy's default.
	Replicas *int32
	// Color picks the idle color to deploy to when a blue-green component has several.
	Color string
	// AutoRollback undoes the change when the rollout fails.
	AutoRollback bool
	// Timeout bounds the wait for the rollout; 0 waits until ctx ends.
	Timeout time.Duration
	// Smoke, when it has a path (its own or the Service's annotation), tests the new pods
	// through pods/proxy once they are Ready, before the deploy reports success.
	Smoke *traffic.Smoke
}

// DeployResult is the report of Deploy: the common Result plus the Deployment that was
// rolled out, its images and replicas, and, when the rollout failed, the diagnosis.
type DeployResult struct {
	Result `json:",inline"`
	// Deployment is the Deployment that was updated (the idle color, the canary or the
	// single Deployment).
	Deployment string `json:"deployment"`
	// Color is the blue-green color deployed to.
	Color string `json:"color,omitempty"`
	// Images are the container images after the deploy.
	Images   []ContainerImage `json:"images"`
	Replicas int32            `json:"replicas"`
	// Ready is true when the wait saw the rollout complete.
	Ready bool `json:"ready"`
	// Failure is the pod failure that ended the wait early.
	Failure *DeployFailure `json:"failure,omitempty"`
	// RolledBack is true when --auto-rollback undid the change after a failure;
	// RolledBackTo is the revision it returned to (rolling).
	RolledBack   bool  `json:"rolledBack,omitempty"`
	RolledBackTo int64 `json:"rolledBackTo,omitempty"`
	// Smoke holds the smoke test run on the new pods.
	Smoke []traffic.SmokeReport `json:"smoke,omitempty"`

	// waited is the template the deploy's wait ended on (rolloutWait.endedOn), which the
	// smoke test then lists by its hash; nil: it looks the template up.
	waited *waitedTemplate
}

// ContainerImage is a container's image in a pod template.
type ContainerImage struct {
	Container string `json:"container"`
	Init      bool   `json:"init,omitempty"`
	Image     string `json:"image"`
}

// DeployFailure is the diagnosis of a failed rollout.
type DeployFailure struct {
	Pod     string                   `json:"pod,omitempty"`
	Message string                   `json:"message"`
	Failure *troubleshoot.PodFailure `json:"podFailure,omitempty"`
}

// ContainerError is a --image naming a container the Deployment does not have: bad usage,
// raised before any write; the message lists the containers.
type ContainerError struct {
	Deployment string
	Container  string
	Containers []string
}

func (e *ContainerError) Error() string {
	if e.Container == "" {
		return fmt.Sprintf("deployment %s has %d containers (%s): name one with --image CONTAINER=IMAGE", e.Deployment, len(e.Containers), strings.Join(e.Containers, ", "))
	}
	return fmt.Sprintf("deployment %s has no container %q: its containers are %s (use --image CONTAINER=IMAGE)", e.Deployment, e.Container, strings.Join(e.Containers, ", "))
}

// Deploy rolls out new images on a component, the way its strategy does it, and waits
// with fail-fast (WaitForDeployment): rolling and recreate update the Deployment;
// blue-green updates the idle color and scales it to the live color's replicas, moving
// no traffic; canary creates or updates the canary at the first step. The deployment
// window is checked first. With DeployOptions.AutoRollback a failed rollout is undone.
// On a failed rollout both the result (with the diagnosis) and the error are returned.
func Deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	if len(opts.Images) == 0 {
		return nil, fmt.Errorf("deploy %s: no --image given", c.Name())
	}
	r := releaserFor(c)
	if r == nil {
		return nil, WrongStrategyError(c, deployKinds...)
	}
	res, err := r.deploy(ctx, env, c, opts)
	if err == nil {
		err = smokeDeployed(ctx, env, c, opts.Smoke, res)
	}
	return res, err
}

// ImageChange is one container whose image SetImages changed.
type ImageChange struct {
	Container string
	Init      bool
	From, To  string
}

// SetImages applies --image values to a pod template in place and returns what changed
// (nothing when the images are already set). A value without a container name sets the
// template's only app container, plus every init container that ran the same image (a
// migration init container ships with its app); "*" sets every container. An unknown or
// missing container name is a *ContainerError.
func SetImages(deployment string, tpl *corev1.PodTemplateSpec, images []ImageSpec) ([]ImageChange, error) {
	spec := &tpl.Spec
	var all []string
	for _, c := range spec.Containers {
		all = append(all, c.Name)
	}
	for _, c := range spec.InitContainers {
		all = append(all, c.Name+" (init)")
	}
	var changes []ImageChange
	set := func(c *corev1.Container, init bool, image string) {
		if c.Image != image {
			changes = append(changes, ImageChange{Container: c.Name, Init: init, From: c.Image, To: image})
			c.Image = image
		}
	}
	for _, im := range images {
		switch im.Container {
		case "":
			if len(spec.Containers) != 1 {
				return nil, &ContainerError{Deployment: deployment, Containers: all}
			}
			old := spec.Containers[0].Image
			set(&spec.Containers[0], false, im.Image)
			for i := range spec.InitContainers {
				if spec.InitContainers[i].Image == old {
					set(&spec.InitContainers[i], true, im.Image)
				}
			}
		case "*":
			for i := range spec.InitContainers {
				set(&spec.InitContainers[i], true, im.Image)
			}
			for i := range spec.Containers {
				set(&spec.Containers[i], false, im.Image)
			}
		default:
			found := false
			for i := range spec.InitContainers {
				if spec.InitContainers[i].Name == im.Container {
					set(&spec.InitContainers[i], true, im.Image)
					found = true
				}
			}
			for i := range spec.Containers {
				if spec.Containers[i].Name == im.Container {
					set(&spec.Containers[i], false, im.Image)
					found = true
				}
			}
			if !found {
				return nil, &ContainerError{Deployment: deployment, Container: im.Container, Containers: all}
			}
		}
	}
	return changes, nil
}

// TemplateImages lists a pod template's images, init containers first.
func TemplateImages(tpl *corev1.PodTemplateSpec) []ContainerImage {
	var out []ContainerImage
	for _, c := range tpl.Spec.InitContainers {
		out = append(out, ContainerImage{Container: c.Name, Init: true, Image: c.Image})
	}
	for _, c := range tpl.Spec.Containers {
		out = append(out, ContainerImage{Container: c.Name, Image: c.Image})
	}
	return out
}

// imagesPatch is the strategic-merge-patch fragment of spec.template.spec that sets the
// containers' images (containers merge by name).
func imagesPatch(tpl *corev1.PodTemplateSpec, changes []ImageChange) map[string]any {
	var containers, inits []any
	seen := map[string]bool{}
	for _, ch := range changes {
		key := fmt.Sprintf("%t/%s", ch.Init, ch.Container)
		if seen[key] {
			continue
		}
		seen[key] = true
		image := ""
		list := tpl.Spec.Containers
		if ch.Init {
			list = tpl.Spec.InitContainers
		}
		for _, c := range list {
			if c.Name == ch.Container {
				image = c.Image
			}
		}
		entry := map[string]any{"name": ch.Container, "image": image}
		if ch.Init {
			inits = append(inits, entry)
		} else {
			containers = append(containers, entry)
		}
	}
	spec := map[string]any{}
	if len(containers) > 0 {
		spec["containers"] = containers
	}
	if len(inits) > 0 {
		spec["initContainers"] = inits
	}
	return spec
}

// failureOf turns a wait error into the result's diagnosis, when it is a rollout failure.
func failureOf(err error) *DeployFailure {
	rf, ok := asRolloutFailed(err)
	if !ok {
		return nil
	}
	msg := rf.Reason
	if rf.Failure != nil {
		msg = rf.Failure.String()
	}
	return &DeployFailure{Pod: rf.Pod, Message: msg, Failure: rf.Failure}
}

func desiredReplicas(d *appsv1.Deployment) int32 {
	if d == nil {
		return 0
	}
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}
