// Command configcheck loads a containerd config.toml, with its imports, by
// containerd 2.4's own loader (cmd/containerd/server/config.LoadConfig,
// starting from the current config version as containerd's main does) and
// prints what containerd would use as one JSON document: the version, every
// plugin table, and the warnings it logged (such as "Configuration migrated
// from version 3"). See ../../README.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/version"
	"github.com/containerd/log"
	"github.com/sirupsen/logrus"
)

// Loaded is the JSON document printed on stdout.
type Loaded struct {
	Version  int            `json:"version"`
	Imports  []string       `json:"imports"`
	Plugins  map[string]any `json:"plugins"`
	Warnings []string       `json:"warnings"`
}

// warnings collects the messages containerd logs at warning level or worse.
type warnings struct{ messages []string }

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	w.messages = append(w.messages, e.Message)
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: configcheck CONFIG.toml")
		os.Exit(2)
	}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	hook := &warnings{messages: []string{}}
	logger.AddHook(hook)
	ctx := log.WithLogger(context.Background(), logrus.NewEntry(logger))
	cfg := config.Config{Version: version.ConfigVersion}
	if err := config.LoadConfig(ctx, os.Args[1], &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "configcheck: %v\n", err)
		os.Exit(1)
	}
	out := Loaded{Version: cfg.Version, Imports: cfg.Imports, Plugins: cfg.Plugins, Warnings: hook.messages}
	if out.Plugins == nil {
		out.Plugins = map[string]any{}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
