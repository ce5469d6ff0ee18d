package strategy

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rcDeployment(name string, labels map[string]string, recreate bool) appsv1.Deployment {
	d := appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
		},
	}
	if recreate {
		d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	}
	return d
}

func rcService(selector, annotations map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", Annotations: annotations},
		Spec:       corev1.ServiceSpec{Selector: selector},
	}
}

func TestRecognise(t *testing.T) {
	l := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		svc      *corev1.Service
		deps     []appsv1.Deployment
		keys     Keys
		want     Kind
		live     string
		colorKey string
		colors   []string
		stable   string
		canary   string
		single   string
	}{
		{
			name: "rolling",
			svc:  rcService(l("app", "web"), nil),
			deps: []appsv1.Deployment{rcDeployment("web", l("app", "web"), false), rcDeployment("other", l("app", "other"), false)},
			want: Rolling, single: "web",
		},
		{
			name: "recreate",
			svc:  rcService(l("app", "db"), nil),
			deps: []appsv1.Deployment{rcDeployment("db", l("app", "db"), true)},
			want: Recreate, single: "db",
		},
		{
			name: "blue-green by label",
			svc:  rcService(l("app", "api", "version", "blue"), nil),
			deps: []appsv1.Deployment{rcDeployment("api-a", l("app", "api", "version", "blue"), false), rcDeployment("api-b", l("app", "api", "version", "green"), false), rcDeployment("web", l("app", "web", "version", "blue"), false)},
			want: BlueGreen, live: "blue", colorKey: "version", colors: []string{"blue", "green"},
		},
		{
			name: "blue-green with the color key annotation",
			svc:  rcService(l("app", "api", "slot", "one"), l(ColorKeyAnnotation, "slot")),
			deps: []appsv1.Deployment{rcDeployment("api-one", l("app", "api", "slot", "one"), false), rcDeployment("api-two", l("app", "api", "slot", "two"), false)},
			want: BlueGreen, live: "one", colorKey: "slot", colors: []string{"one", "two"},
		},
		{
			name: "blue-green with --color-key overriding the annotation",
			svc:  rcService(l("app", "api", "slot", "one"), l(ColorKeyAnnotation, "other")),
			deps: []appsv1.Deployment{rcDeployment("api-one", l("app", "api", "slot", "one"), false)},
			keys: Keys{ColorKey: "slot"},
			want: BlueGreen, live: "one", colorKey: "slot", colors: []string{"one"},
		},
		{
			name: "canary by track label",
			svc:  rcService(l("app", "api"), nil),
			deps: []appsv1.Deployment{rcDeployment("api-main", l("app", "api", "track", "stable"), false), rcDeployment("api-next", l("app", "api", "track", "canary"), false)},
			want: Canary, stable: "api-main", canary: "api-next",
		},
		{
			name: "canary by names",
			svc:  rcService(l("app", "api"), nil),
			deps: []appsv1.Deployment{rcDeployment("app-stable", l("app", "api", "tier", "x"), false), rcDeployment("app-canary", l("app", "api", "tier", "y"), false)},
			want: Canary, stable: "app-stable", canary: "app-canary",
		},
		{
			name: "canary before the first deploy",
			svc:  rcService(l("app", "api"), nil),
			deps: []appsv1.Deployment{rcDeployment("api", l("app", "api", "track", "stable"), false)},
			want: Canary, stable: "api",
		},
		{
			name: "unknown: two deployments without a convention",
			svc:  rcService(l("app", "api"), nil),
			deps: []appsv1.Deployment{rcDeployment("a", l("app", "api"), false), rcDeployment("b", l("app", "api"), false)},
			want: Unknown,
		},
		{
			name: "unknown: no selector",
			svc:  rcService(nil, nil),
			deps: []appsv1.Deployment{rcDeployment("a", l("app", "api"), false)},
			want: Unknown,
		},
		{
			name: "unknown: selects nothing",
			svc:  rcService(l("app", "nothing"), nil),
			deps: []appsv1.Deployment{rcDeployment("a", l("app", "api"), false)},
			want: Unknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Recognise(tt.svc, tt.deps, tt.keys)
			if c.Strategy != tt.want {
				t.Fatalf("strategy = %s, want %s", c.Strategy, tt.want)
			}
			if c.LiveColor != tt.live || c.ColorKey != tt.colorKey {
				t.Errorf("live/key = %q/%q, want %q/%q", c.LiveColor, c.ColorKey, tt.live, tt.colorKey)
			}
			if got := strings.Join(c.ColorNames(), ","); got != strings.Join(tt.colors, ",") {
				t.Errorf("colors = %q, want %q", got, strings.Join(tt.colors, ","))
			}
			if name(c.Stable) != tt.stable || name(c.Canary) != tt.canary || name(c.Deployment) != tt.single {
				t.Errorf("stable/canary/single = %q/%q/%q, want %q/%q/%q", name(c.Stable), name(c.Canary), name(c.Deployment), tt.stable, tt.canary, tt.single)
			}
		})
	}
}

func name(d *appsv1.Deployment) string {
	if d == nil {
		return ""
	}
	return d.Name
}

func TestColorDeployment(t *testing.T) {
	svc := rcService(map[string]string{"app": "app", "version": "blue"}, nil)
	deps := []appsv1.Deployment{
		rcDeployment("app-blue", map[string]string{"app": "app", "version": "blue"}, false),
		rcDeployment("app-green", map[string]string{"app": "app", "version": "v2"}, false),
		rcDeployment("app-red", map[string]string{"app": "other"}, false),
	}
	c := Recognise(svc, deps, Keys{})
	if d, v, err := c.ColorDeployment("v2", deps); err != nil || d.Name != "app-green" || v != "v2" {
		t.Errorf("by label: %v %q %v", name(d), v, err)
	}
	// Named fallback: the color is the <component>-<color> suffix, the value its label.
	if d, v, err := c.ColorDeployment("green", deps); err != nil || d.Name != "app-green" || v != "v2" {
		t.Errorf("by name: %v %q %v", name(d), v, err)
	}
	if _, _, err := c.ColorDeployment("red", deps); err == nil || !strings.Contains(err.Error(), `no "version" label`) {
		t.Errorf("named deployment without the key: %v", err)
	}
	_, _, err := c.ColorDeployment("purple", deps)
	if err == nil || !strings.Contains(err.Error(), "colors: blue, v2") {
		t.Errorf("unknown color must list the colors: %v", err)
	}
}
