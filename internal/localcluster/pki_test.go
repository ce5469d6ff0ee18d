package localcluster

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestGeneratePKIIsValidAndReusable(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if err := generatePKI(dir, now); err != nil {
		t.Fatal(err)
	}
	if err := checkPKI(dir, now); err != nil {
		t.Fatalf("fresh pki invalid: %v", err)
	}
	generated, err := ensurePKI(dir)
	if err != nil || generated {
		t.Fatalf("ensurePKI on a valid pki: generated=%v err=%v, want reuse", generated, err)
	}

	cert := readCert(t, filepath.Join(dir, "apiserver.crt"))
	if !slices.Contains(cert.DNSNames, "kubernetes.default.svc") || len(cert.IPAddresses) == 0 || !cert.IPAddresses[0].Equal(apiserverIPs[0]) {
		t.Errorf("apiserver SANs = %v %v", cert.DNSNames, cert.IPAddresses)
	}
	admin := readCert(t, filepath.Join(dir, "admin.crt"))
	if admin.Subject.CommonName != "kubernetes-admin" || !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject = %v", admin.Subject)
	}
	kcm := readCert(t, filepath.Join(dir, "kcm.crt"))
	if kcm.Subject.CommonName != "system:kube-controller-manager" {
		t.Errorf("kcm subject = %v", kcm.Subject)
	}
}

func TestCheckPKIRejectsBrokenOrExpiring(t *testing.T) {
	now := time.Now()
	tests := map[string]func(t *testing.T, dir string) time.Time{
		"missing key": func(t *testing.T, dir string) time.Time {
			mustRemove(t, filepath.Join(dir, "scheduler.key"))
			return now
		},
		"key of another cert": func(t *testing.T, dir string) time.Time {
			data, err := os.ReadFile(filepath.Join(dir, "kwok.key"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "admin.key"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			return now
		},
		"expiring": func(t *testing.T, dir string) time.Time {
			return now.Add(pkiValidity)
		},
		"missing sa public key": func(t *testing.T, dir string) time.Time {
			mustRemove(t, filepath.Join(dir, "sa.pub"))
			return now
		},
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := generatePKI(dir, now); err != nil {
				t.Fatal(err)
			}
			at := breakIt(t, dir)
			if err := checkPKI(dir, at); err == nil {
				t.Fatal("checkPKI accepted a broken pki")
			}
		})
	}
}

func TestEnsurePKIRegeneratesBrokenPKI(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	generated, err := ensurePKI(dir)
	if err != nil || !generated {
		t.Fatalf("generated=%v err=%v, want a new pki", generated, err)
	}
	if err := checkPKI(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
