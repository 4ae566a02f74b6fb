module github.com/deckhouse/deckhouse-registry/bindings/go

go 1.26
