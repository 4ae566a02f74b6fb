package hostscheck

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
)

// TLSInfo is what the harness can observe of a host's http.Client.
type TLSInfo struct {
	// HTTPFallback: the transport is containerd's unexported HTTP-fallback
	// wrapper (docker.NewHTTPFallback): https first, then plain http after a
	// TLS or port error.
	HTTPFallback bool `json:"http_fallback"`
	// SkipVerify is TLSClientConfig.InsecureSkipVerify.
	SkipVerify bool `json:"skip_verify"`
	// CustomCA: TLSClientConfig.RootCAs is set (the system pool plus the
	// files of "ca"); false means Go's default system roots.
	CustomCA bool `json:"custom_ca"`
	// ClientCerts is len(TLSClientConfig.Certificates).
	ClientCerts int `json:"client_certs"`
}

var transportType = reflect.TypeFor[*http.Transport]()

// InspectClient reads the TLS settings of c's transport. The transport is
// either an *http.Transport or containerd's httpFallback wrapper, whose
// unexported field "super" holds the wrapped RoundTripper; reflect can read
// unexported fields with Bool/IsNil/Len (not Interface), which is all this
// needs.
func InspectClient(c *http.Client) (TLSInfo, error) {
	var info TLSInfo
	if c == nil {
		return info, errors.New("no http.Client")
	}
	if c.Transport == nil {
		// http.DefaultTransport: no TLS settings of its own.
		return info, nil
	}
	v := reflect.ValueOf(c.Transport)
	for range 16 {
		if v.Kind() == reflect.Interface {
			if v.IsNil() {
				return info, errors.New("wrapped transport is nil")
			}
			v = v.Elem()
		}
		if v.Type() == transportType {
			if v.IsNil() {
				return info, errors.New("nil *http.Transport")
			}
			readTLSConfig(v.Elem().FieldByName("TLSClientConfig"), &info)
			return info, nil
		}
		if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
			if super := v.Elem().FieldByName("super"); super.IsValid() {
				info.HTTPFallback = true
				v = super
				continue
			}
		}
		return info, fmt.Errorf("unsupported transport type %s", v.Type())
	}
	return info, errors.New("transport wrappers nested too deep")
}

// readTLSConfig reads a *tls.Config value through reflect.
func readTLSConfig(cfg reflect.Value, info *TLSInfo) {
	if !cfg.IsValid() || cfg.IsNil() {
		return
	}
	e := cfg.Elem()
	info.SkipVerify = e.FieldByName("InsecureSkipVerify").Bool()
	info.CustomCA = !e.FieldByName("RootCAs").IsNil()
	info.ClientCerts = e.FieldByName("Certificates").Len()
}
