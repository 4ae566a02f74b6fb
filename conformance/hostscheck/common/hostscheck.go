// Package hostscheck is the version-independent part of the hostscheck
// harness: it loads a containerd registry host directory tree (config_path,
// for Deckhouse /etc/containerd/registry.d) with containerd's own parser and
// reports what containerd resolved, as JSON.
//
// The containerd-specific calls (HostDirFromRoot, ConfigureHosts, errdefs,
// capability constants, log.WithLogger) live in the small per-version main
// packages (../v2, ../v17), which hand them in as a Backend.
package hostscheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
)

// Backend is what a containerd version provides to the harness.
type Backend struct {
	// Module is the containerd Go module whose version is reported as
	// "parser", e.g. "github.com/containerd/containerd/v2".
	Module string
	// HostDirFromRoot is config.HostDirFromRoot of that version.
	HostDirFromRoot func(root string) func(string) (string, error)
	// IsNotFound is errdefs.IsNotFound of that version.
	IsNotFound func(error) bool
	// WithLogger is containerd's log.WithLogger: the returned context makes
	// containerd's log.G(ctx) log through entry.
	WithLogger func(ctx context.Context, entry *logrus.Entry) context.Context
	// Resolve calls config.ConfigureHosts(ctx, options)(ns) and converts the
	// returned docker.RegistryHost values.
	Resolve func(ctx context.Context, opts Options, ns string) ([]Host, error)
}

// Options mirrors the config.HostOptions fields the harness sets.
type Options struct {
	HostDir       func(string) (string, error)
	DefaultTLS    *tls.Config
	DefaultScheme string
}

// Host is a docker.RegistryHost converted by the backend.
type Host struct {
	Scheme string
	Host   string
	Path   string
	// Caps are the capability names of the bits set, in bit order
	// (pull, resolve, push, referrers); unknown bits as "0x..".
	Caps   []string
	Header http.Header
	Client *http.Client
}

// CapabilityName pairs a capability bit with its hosts.toml name.
type CapabilityName struct {
	Bit  uint
	Name string
}

// CapNames turns a capability bit set into names, in the order of names;
// bits not in names are reported as hex.
func CapNames(bits uint, names []CapabilityName) []string {
	out := []string{}
	for _, n := range names {
		if bits&n.Bit != 0 {
			out = append(out, n.Name)
			bits &^= n.Bit
		}
	}
	if bits != 0 {
		out = append(out, fmt.Sprintf("0x%x", bits))
	}
	return out
}

// Report is the JSON document printed on stdout.
type Report struct {
	// Parser is "containerd <module version>".
	Parser  string   `json:"parser"`
	Results []Result `json:"results"`
}

// Result is what containerd resolved for one namespace.
type Result struct {
	NS string `json:"ns"`
	// Dir is the directory HostDirFromRoot chose, "" when none exists.
	Dir      string `json:"dir"`
	DirFound bool   `json:"dir_found"`
	// DecodeError is the error of containerd's "failed to decode" log
	// entry: the file was rejected and containerd fell back to the
	// Docker-cert mode (upstream only). "" when there was none.
	DecodeError string `json:"decode_error"`
	// Error is the error returned by HostDirFromRoot (other than not found)
	// or by the RegistryHosts function (this fails a pull), or a harness
	// problem prefixed "hostscheck:". "" when there was none.
	Error     string     `json:"error"`
	Hosts     []HostJSON `json:"hosts"`
	Deckhouse *Deckhouse `json:"deckhouse"`
}

// HostJSON is one resolved host, in containerd's order.
type HostJSON struct {
	Scheme string              `json:"scheme"`
	Host   string              `json:"host"`
	Path   string              `json:"path"`
	Caps   []string            `json:"caps"`
	Header map[string][]string `json:"header"`
	TLSInfo
}

// Config is the parsed command line.
type Config struct {
	Root       string
	Mode       string // "cri" or "ctr"
	PlainHTTP  bool
	Verbose    bool
	Namespaces []string
}

// Check resolves every namespace of cfg. Containerd's log goes to logOut
// (io.Discard unless --verbose), never to stdout.
func Check(ctx context.Context, b Backend, cfg Config, logOut io.Writer) Report {
	rep := Report{Parser: ParserVersion(b.Module), Results: []Result{}}
	for _, ns := range cfg.Namespaces {
		rep.Results = append(rep.Results, checkOne(ctx, b, cfg, ns, logOut))
	}
	return rep
}

func checkOne(ctx context.Context, b Backend, cfg Config, ns string, logOut io.Writer) (res Result) {
	res = Result{NS: ns, Hosts: []HostJSON{}}

	dirFn := b.HostDirFromRoot(cfg.Root)
	dir, err := dirFn(ns)
	switch {
	case err == nil:
		res.Dir, res.DirFound = dir, true
	case b.IsNotFound(err):
	default:
		// ConfigureHosts returns this same error below.
		res.Error = err.Error()
	}

	if res.DirFound {
		res.Deckhouse = DecodeDeckhouse(filepath.Join(res.Dir, "hosts.toml"))
	}

	opts := Options{HostDir: dirFn}
	if cfg.Mode == "ctr" {
		opts.DefaultTLS = &tls.Config{}
	}
	if cfg.PlainHTTP {
		opts.DefaultScheme = "http"
	}

	capture := newLogCapture(logOut)
	cctx := b.WithLogger(ctx, capture.entry(ns))

	hosts, rerr := resolveSafely(cctx, b, opts, ns)
	res.DecodeError = strings.Join(capture.decodeErrors(), "\n")
	if rerr != nil {
		res.Error = rerr.Error()
		return res
	}
	for i, h := range hosts {
		hj := HostJSON{
			Scheme: h.Scheme,
			Host:   h.Host,
			Path:   h.Path,
			Caps:   h.Caps,
			Header: map[string][]string{},
		}
		if hj.Caps == nil {
			hj.Caps = []string{}
		}
		for k, v := range h.Header {
			hj.Header[k] = v
		}
		info, terr := InspectClient(h.Client)
		if terr != nil {
			res.Error = fmt.Sprintf("hostscheck: host %d (%s): %v", i, h.Host, terr)
		}
		hj.TLSInfo = info
		res.Hosts = append(res.Hosts, hj)
	}
	return res
}

// resolveSafely turns a panic inside containerd (1.7's host sort panics on a
// non-table value under `host`) into an error.
func resolveSafely(ctx context.Context, b Backend, opts Options, ns string) (hosts []Host, err error) {
	defer func() {
		if r := recover(); r != nil {
			hosts, err = nil, fmt.Errorf("hostscheck: containerd panicked: %v", r)
		}
	}()
	return b.Resolve(ctx, opts, ns)
}

// errUsage marks command-line errors (exit status 2).
var errUsage = errors.New("usage")

// IsUsage reports whether err is a command-line error.
func IsUsage(err error) bool { return errors.Is(err, errUsage) }

// Main is the whole program: it never returns.
func Main(b Backend) {
	os.Exit(Run(b, os.Args[1:], os.Stdout, os.Stderr))
}
