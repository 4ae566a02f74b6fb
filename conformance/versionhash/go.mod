module github.com/deckhouse/deckhouse-registry/conformance/versionhash

go 1.26
