module github.com/deckhouse/deckhouse-registry/examples/go/render-import

go 1.26

require github.com/deckhouse/deckhouse-registry/bindings/go v0.0.0

replace github.com/deckhouse/deckhouse-registry/bindings/go => ../../../bindings/go
