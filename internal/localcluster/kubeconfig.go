package localcluster

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// contextName is the cluster, user and context name in every generated kubeconfig.
const contextName = "feastflow-local"

// renderKubeconfig returns a kubeconfig for the client identity name (see clientCerts),
// with the CA and the client certificate embedded.
func renderKubeconfig(pki, name, server string) ([]byte, error) {
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	crt, err := os.ReadFile(filepath.Join(pki, name+".crt"))
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(pki, name+".key"))
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName, Namespace: "default"}
	cfg.CurrentContext = contextName
	return clientcmd.Write(*cfg)
}

// writeKubeconfigs writes the admin kubeconfig (<state>/kubeconfig) and one per component.
func writeKubeconfigs(stateDir string, apiPort int) error {
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	pki := filepath.Join(stateDir, pkiDir)
	for _, c := range clientCerts {
		data, err := renderKubeconfig(pki, c.name, server)
		if err != nil {
			return fmt.Errorf("render %s kubeconfig: %w", c.name, err)
		}
		path := filepath.Join(stateDir, c.name+".kubeconfig")
		if c.name == "admin" {
			path = KubeconfigPath(stateDir)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %s kubeconfig: %w", c.name, err)
		}
	}
	return nil
}
