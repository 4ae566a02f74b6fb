package hostschecktest

import (
	"slices"
	"strings"
	"testing"

	hostscheck "github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common"
)

func cliSuite(t *testing.T, b hostscheck.Backend) {
	root := Tree(t, map[string]string{
		"e.example/hosts.toml": "[host]\n[host.\"https://m.corp\"]\n  capabilities = [\"nope\"]\n",
	})

	for _, args := range [][]string{
		nil,
		{"docker.io"},
		{"--root", root},
		{"--root", root, "--mode", "kubelet", "docker.io"},
		{"--root", root, "--bogus", "docker.io"},
		{"--root", root, ""},
	} {
		o := Run(t, b, args...)
		if o.Code != 2 || o.Stdout != "" || !strings.Contains(o.Stderr, "usage:") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing, usage", args, o.Code, o.Stdout, o.Stderr)
		}
	}

	o := Run(t, b, "-h")
	if o.Code != 0 || o.Stdout != "" || !strings.Contains(o.Stderr, "usage:") {
		t.Errorf("-h: exit %d, stdout %q", o.Code, o.Stdout)
	}

	// Flags may follow namespaces; "--" ends the flags.
	o = Run(t, b, "e.example", "--root", root, "quay.io", "--mode", "ctr", "--", "--plain-http")
	var got []string
	for _, r := range o.Report.Results {
		got = append(got, r.NS)
	}
	if o.Code != 0 || !slices.Equal(got, []string{"e.example", "quay.io", "--plain-http"}) {
		t.Errorf("exit %d, namespaces %q", o.Code, got)
	}

	// A decode error is data: exit 0, and containerd's log stays off
	// stdout (Run checks stdout is exactly one JSON document); it reaches
	// stderr only with --verbose.
	o = Run(t, b, "--root", root, "e.example")
	if o.Code != 0 || o.Report.Results[0].DecodeError == "" || o.Stderr != "" {
		t.Errorf("exit %d, decode_error %q, stderr %q", o.Code, o.Report.Results[0].DecodeError, o.Stderr)
	}
	o = Run(t, b, "--verbose", "--root", root, "e.example")
	if o.Code != 0 || !strings.Contains(o.Stderr, "failed to decode") || !strings.Contains(o.Stderr, "loading host directory") {
		t.Errorf("--verbose: exit %d, stderr %q", o.Code, o.Stderr)
	}
}
