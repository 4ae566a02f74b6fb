// Command configcheck loads a containerd config.toml, with its imports, by
// containerd 1.7's own loader (services/server/config.LoadConfig) and prints
// what containerd would use as one JSON document: the version and every
// plugin table. It shows what 1.x `imports` does to a plugin table and that a
// merged config.toml keeps everything. See ../../README.md.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/services/server/config"
	"github.com/sirupsen/logrus"
)

// Loaded is the JSON document printed on stdout.
type Loaded struct {
	Version  int            `json:"version"`
	Imports  []string       `json:"imports"`
	Plugins  map[string]any `json:"plugins"`
	Warnings []string       `json:"warnings"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: configcheck CONFIG.toml")
		os.Exit(2)
	}
	logrus.SetOutput(io.Discard)
	var cfg config.Config
	if err := config.LoadConfig(os.Args[1], &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "configcheck: %v\n", err)
		os.Exit(1)
	}
	out := Loaded{Version: cfg.Version, Imports: cfg.Imports, Plugins: map[string]any{}, Warnings: []string{}}
	for name, tree := range cfg.Plugins {
		out.Plugins[name] = tree.ToMap()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
