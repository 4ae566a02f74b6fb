package main

import (
	"testing"

	"github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common/hostschecktest"
)

// containerd v2.4.x: go-toml/v2 and the header-order host list (§3), with
// dial_timeout and referrers (§5).
func TestConformance(t *testing.T) {
	hostschecktest.RunSuite(t, backend(), hostschecktest.Version{
		ParserPrefix:      "containerd v2.4.",
		Referrers:         true,
		DialTimeout:       true,
		HeaderOrder:       true,
		HostTableRequired: false,
		HeaderOwnClient:   true,
		SyntaxErrorPrefix: "toml: ",
	})
}
