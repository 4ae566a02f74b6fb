// Package hostschecktest holds the conformance suite the per-version
// hostscheck modules run against their containerd (go test ./... in ../v2
// and ../v17), and the fixture helpers it needs.
package hostschecktest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hostscheck "github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common"
)

// Tree writes files (path relative to a new temporary root, "/"-separated;
// a path ending in "/" makes an empty directory) and returns the root.
func Tree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// SelfSigned returns a fresh self-signed ECDSA P-256 certificate and its
// key, both PEM-encoded (containerd reads CA and client files at resolve
// time, so fixtures must be real PEM).
func SelfSigned(t testing.TB, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return certPEM, keyPEM
}

// Output is one run of the harness through hostscheck.Run, the function
// the binary's main calls.
type Output struct {
	Code   int
	Stdout string
	Stderr string
	Report hostscheck.Report
}

// Run runs the harness with args. When it exits 0 and prints anything
// (-h prints nothing), stdout must be exactly one JSON document that
// decodes into hostscheck.Report with no unknown fields.
func Run(t testing.TB, b hostscheck.Backend, args ...string) Output {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o := Output{Code: hostscheck.Run(b, args, &stdout, &stderr)}
	o.Stdout, o.Stderr = stdout.String(), stderr.String()
	if o.Code != 0 || o.Stdout == "" {
		return o
	}
	dec := json.NewDecoder(strings.NewReader(o.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o.Report); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, o.Stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", o.Stdout)
	}
	return o
}

// Resolve runs the harness for one namespace and returns its result.
func Resolve(t testing.TB, b hostscheck.Backend, root, ns string, flags ...string) hostscheck.Result {
	t.Helper()
	args := append([]string{"--root", root}, flags...)
	o := Run(t, b, append(args, ns)...)
	if o.Code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", o.Code, o.Stderr)
	}
	if len(o.Report.Results) != 1 || o.Report.Results[0].NS != ns {
		t.Fatalf("want one result for %s, got %+v", ns, o.Report.Results)
	}
	return o.Report.Results[0]
}

// HostLine renders a resolved host on one line, for readable comparisons.
func HostLine(h hostscheck.HostJSON) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s [%s]", h.Scheme, h.Host, h.Path, strings.Join(h.Caps, ","))
	if len(h.Header) > 0 {
		hb, _ := json.Marshal(h.Header)
		fmt.Fprintf(&b, " header=%s", hb)
	}
	if h.HTTPFallback {
		b.WriteString(" fallback")
	}
	if h.SkipVerify {
		b.WriteString(" skip_verify")
	}
	if h.CustomCA {
		b.WriteString(" custom_ca")
	}
	if h.ClientCerts > 0 {
		fmt.Fprintf(&b, " client_certs=%d", h.ClientCerts)
	}
	return b.String()
}

// HostLines renders all hosts of a result.
func HostLines(r hostscheck.Result) []string {
	out := make([]string, len(r.Hosts))
	for i, h := range r.Hosts {
		out[i] = HostLine(h)
	}
	return out
}
