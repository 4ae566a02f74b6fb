package main

import (
	"testing"

	"github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common/hostschecktest"
)

// containerd v1.7.35: go-toml v1, hosts sorted by line (§3), no
// dial_timeout or referrers, and a file without [host] accepted since
// 1.7.32 (§5).
func TestConformance(t *testing.T) {
	hostschecktest.RunSuite(t, backend(), hostschecktest.Version{
		ParserPrefix:      "containerd v1.7.",
		Referrers:         false,
		DialTimeout:       false,
		HeaderOrder:       false,
		HostTableRequired: false,
		HeaderOwnClient:   false,
		SyntaxErrorPrefix: "failed to parse TOML: (",
	})
}
