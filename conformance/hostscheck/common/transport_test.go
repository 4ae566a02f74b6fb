package hostscheck

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"slices"
	"testing"
)

// fallback has the shape of containerd's unexported httpFallback.
type fallback struct {
	super http.RoundTripper
	host  string
}

func (f *fallback) RoundTrip(r *http.Request) (*http.Response, error) { return f.super.RoundTrip(r) }

type otherRT struct{}

func (otherRT) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }

func TestInspectClient(t *testing.T) {
	tlsTransport := &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		RootCAs:            x509.NewCertPool(),
		Certificates:       make([]tls.Certificate, 2),
	}}
	full := TLSInfo{SkipVerify: true, CustomCA: true, ClientCerts: 2}
	fullFallback := full
	fullFallback.HTTPFallback = true

	cases := []struct {
		name string
		rt   http.RoundTripper
		want TLSInfo
	}{
		{"default transport", nil, TLSInfo{}},
		{"no TLS config", &http.Transport{}, TLSInfo{}},
		{"empty TLS config", &http.Transport{TLSClientConfig: &tls.Config{}}, TLSInfo{}},
		{"TLS config", tlsTransport, full},
		{"fallback", &fallback{super: tlsTransport}, fullFallback},
		{"fallback twice", &fallback{super: &fallback{super: tlsTransport}}, fullFallback},
	}
	for _, c := range cases {
		got, err := InspectClient(&http.Client{Transport: c.rt})
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}

	for name, c := range map[string]*http.Client{
		"nil client":        nil,
		"unknown transport": {Transport: otherRT{}},
		"fallback of nil":   {Transport: &fallback{}},
		"fallback of other": {Transport: &fallback{super: otherRT{}}},
	} {
		if _, err := InspectClient(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCapNames(t *testing.T) {
	names := []CapabilityName{{1, "pull"}, {2, "resolve"}, {4, "push"}}
	for bits, want := range map[uint][]string{
		0:    {},
		5:    {"pull", "push"},
		7:    {"pull", "resolve", "push"},
		0x1a: {"resolve", "0x18"},
	} {
		if got := CapNames(bits, names); !slices.Equal(got, want) || got == nil {
			t.Errorf("CapNames(%#x) = %q, want %q", bits, got, want)
		}
	}
}
