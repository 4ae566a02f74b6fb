module github.com/deckhouse/deckhouse-registry/benches/registryd-load

go 1.24
