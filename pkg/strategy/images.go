package strategy

import (
	"fmt"
	"strings"
)

// Helpers on container images that every strategy's deploy uses.

func imageField(ch ImageChange) string {
	if ch.Init {
		return fmt.Sprintf("spec.template.spec.initContainers[%s].image", ch.Container)
	}
	return fmt.Sprintf("spec.template.spec.containers[%s].image", ch.Container)
}

// imagesText is "backend=img:1, db-migrations(init)=img:1", or just the image when there is one.
func imagesText(images []ContainerImage) string {
	var app []ContainerImage
	for _, im := range images {
		if !im.Init {
			app = append(app, im)
		}
	}
	if len(app) == 1 {
		return app[0].Image
	}
	parts := make([]string, 0, len(app))
	for _, im := range app {
		parts = append(parts, im.Container+"="+im.Image)
	}
	return strings.Join(parts, ",")
}
