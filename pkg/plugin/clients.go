package plugin

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
	"github.com/feastflow/kubectl-feastflow/pkg/redact"
)

// Client rate limits. client-go's default (5 QPS, burst 10) would make a drain of a full
// node (110 pods) take over 20 s in evictions alone; kubectl itself raises only discovery.
// Burst 150 lets one node's evictions and the lists around them go out at once, and 50 QPS
// sustained stays a polite client (the apiserver's priority and fairness protects it too).
const (
	clientQPS   = 50
	clientBurst = 150
)

// clients are the typed API clients and the context every verb works in.
type clients struct {
	Kube kubernetes.Interface
	// Metadata reads objects as metadata only (ConfigMaps and Secrets: never their data).
	Metadata  metadata.Interface
	Config    *rest.Config
	Namespace string
	// ExplicitNamespace is true when -n was given.
	ExplicitNamespace bool
	getter            genericclioptions.RESTClientGetter
}

// newClients builds typed clients (no discovery) from kubectl's flags.
func newClients(getter genericclioptions.RESTClientGetter) (*clients, error) {
	cfg, err := getter.ToRESTConfig()
	if err != nil {
		return nil, kubeconfigError(err)
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	// Built-in kinds only (typed clients): protobuf, as kubectl reads them.
	pages.UseProtobuf(cfg)
	cfg.UserAgent = "kubectl-feastflow/" + version + " " + rest.DefaultKubernetesUserAgent()
	// Secrets' last-applied-configuration (their data, when created by kubectl apply) never
	// reaches the plugin or client-go's -v=8 body log.
	cfg.Wrap(redact.Secrets)
	ns, explicit, err := getter.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, kubeconfigError(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create metadata client: %w", err)
	}
	return &clients{Kube: kube, Metadata: md, Config: cfg, Namespace: ns, ExplicitNamespace: explicit, getter: getter}, nil
}

// kubeconfigError turns client-go's kubeconfig errors into one line that names the fix.
func kubeconfigError(err error) error {
	return fmt.Errorf("load kubeconfig: %w (check --kubeconfig, $KUBECONFIG and --context; `kubectl config view` shows what kubectl sees)", err)
}

// User returns the user name to record in audit annotations: the impersonated user, the
// client certificate's common name, or, for tokens and exec plugins, the answer of a
// SelfSubjectReview; the kubeconfig's user name when the server cannot tell.
func (c *clients) User(ctx context.Context) string {
	if c.Config.Impersonate.UserName != "" {
		return c.Config.Impersonate.UserName
	}
	if cn := certCommonName(c.Config); cn != "" {
		return cn
	}
	review, err := c.Kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username
	}
	raw, err := c.getter.ToRawKubeConfigLoader().RawConfig()
	if err == nil {
		if ctxCfg, ok := raw.Contexts[raw.CurrentContext]; ok && ctxCfg.AuthInfo != "" {
			return ctxCfg.AuthInfo
		}
	}
	return "unknown"
}

func certCommonName(cfg *rest.Config) string {
	data := cfg.CertData
	if len(data) == 0 && cfg.CertFile != "" {
		b, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return ""
		}
		data = b
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return ""
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return ""
	}
	return cert.Subject.CommonName
}
