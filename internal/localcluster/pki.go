package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pkiValidity is the lifetime of generated certificates; pkiMinRemaining is how long a
// certificate must stay valid for an existing PKI to be reused.
const (
	pkiValidity     = 10 * 365 * 24 * time.Hour
	pkiMinRemaining = 7 * 24 * time.Hour
)

// clientCert describes one client identity of the cluster.
type clientCert struct {
	name string // file base name and kubeconfig user
	cn   string
	org  string
}

// clientCerts: admin and kwok are cluster admins; the controller-manager and the scheduler
// use the identities the bootstrap RBAC policy already grants their permissions to.
var clientCerts = []clientCert{
	{"admin", "kubernetes-admin", "system:masters"},
	{"kcm", "system:kube-controller-manager", ""},
	{"scheduler", "system:kube-scheduler", ""},
	{"kwok", "kwok-controller", "system:masters"},
}

// apiserverSANs are the names the apiserver certificate is valid for.
var (
	apiserverDNS = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	apiserverIPs = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}
)

// ensurePKI keeps a valid PKI in dir or generates a new one; it reports whether it generated.
func ensurePKI(dir string) (bool, error) {
	if err := checkPKI(dir, time.Now()); err == nil {
		return false, nil
	}
	if err := generatePKI(dir, time.Now()); err != nil {
		return false, fmt.Errorf("generate pki: %w", err)
	}
	return true, nil
}

// generatePKI writes a CA, the apiserver serving certificate, the client certificates and
// the service-account key pair into dir. ECDSA P-256 keeps generation in milliseconds.
func generatePKI(dir string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "feastflow-local-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(pkiValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writeCertAndKey(dir, "ca", caDER, caKey); err != nil {
		return err
	}
	leaf := func(name string, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore = now.Add(-time.Hour)
		tmpl.NotAfter = now.Add(pkiValidity)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		return writeCertAndKey(dir, name, der, key)
	}
	if err := leaf("apiserver", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    apiserverDNS,
		IPAddresses: apiserverIPs,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return err
	}
	for _, c := range clientCerts {
		subject := pkix.Name{CommonName: c.cn}
		if c.org != "" {
			subject.Organization = []string{c.org}
		}
		if err := leaf(c.name, &x509.Certificate{Subject: subject, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return err
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, "sa.key"), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub)
}

// checkPKI verifies that every file generatePKI writes exists, parses, chains to the CA,
// matches its key and stays valid for at least pkiMinRemaining after now.
func checkPKI(dir string, now time.Time) error {
	ca, err := loadCertAndKey(dir, "ca")
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	names := []string{"apiserver"}
	for _, c := range clientCerts {
		names = append(names, c.name)
	}
	for _, name := range names {
		cert, err := loadCertAndKey(dir, name)
		if err != nil {
			return err
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now.Add(pkiMinRemaining), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("%s certificate: %w", name, err)
		}
	}
	if now.Add(pkiMinRemaining).After(ca.NotAfter) {
		return errors.New("ca certificate expires soon")
	}
	if _, err := loadKey(filepath.Join(dir, "sa.key")); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "sa.pub")); err != nil {
		return err
	}
	return nil
}

// loadCertAndKey reads name.crt and checks that name.key is its private key.
func loadCertAndKey(dir, name string) (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s.crt: no certificate", name)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s.crt: %w", name, err)
	}
	key, err := loadKey(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	certPub, ok2 := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !ok2 || !pub.Equal(certPub) {
		return nil, fmt.Errorf("%s.key does not match %s.crt", name, name)
	}
	return cert, nil
}

func loadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", filepath.Base(path))
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return key, nil
}

func writeCertAndKey(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der); err != nil {
		return err
	}
	return writeKey(filepath.Join(dir, name+".key"), key)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
