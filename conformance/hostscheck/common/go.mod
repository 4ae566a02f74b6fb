module github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common

go 1.26

require (
	github.com/pelletier/go-toml/v2 v2.4.3
	github.com/sirupsen/logrus v1.10.2
)

require golang.org/x/sys v0.13.0 // indirect
