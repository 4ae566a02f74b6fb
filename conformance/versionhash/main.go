// Command versionhash computes the node configuration version the way the registry module's Go
// code does (DOMAIN.md §7.1-7.2): the lowercase hex sha256 of encoding/json's Marshal of the
// Config struct with Version empty. It reads one registry-core NodeConfig (its serde JSON) on
// stdin and prints the hash, so Rust tests can check NodeConfig::version against Go itself.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Config is the module's node configuration, fields in the Go declaration order.
type Config struct {
	Mode           string           `json:"mode"`
	Version        string           `json:"version"`
	ImagesBase     string           `json:"imagesBase"`
	ProxyEndpoints []string         `json:"proxyEndpoints,omitempty"`
	Hosts          map[string]Hosts `json:"hosts"`
}

// Hosts are the mirrors of one registry host, in the order tried.
type Hosts struct {
	Mirrors []Mirror `json:"mirrors"`
}

// Mirror is one mirror of a registry host.
type Mirror struct {
	Host     string    `json:"host"`
	Scheme   string    `json:"scheme"`
	CA       string    `json:"ca,omitempty"`
	Auth     Auth      `json:"auth"`
	Rewrites []Rewrite `json:"rewrites,omitempty"`
}

// Auth is always present; empty strings for an anonymous mirror.
type Auth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// Rewrite is a repository path rewrite.
type Rewrite struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// input is registry-core's NodeConfig as serde writes it.
type input struct {
	Mode           string                   `json:"mode"`
	Transition     bool                     `json:"transition"`
	ImagesBase     string                   `json:"imagesBase"`
	ProxyEndpoints []string                 `json:"proxyEndpoints"`
	Hosts          map[string][]inputMirror `json:"hosts"`
}

type inputMirror struct {
	Host   string `json:"host"`
	Scheme string `json:"scheme"`
	CA     string `json:"ca"`
	Auth   *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auth"`
	Rewrites []Rewrite `json:"rewrites"`
}

func convert(in input) Config {
	c := Config{Mode: in.Mode, ImagesBase: in.ImagesBase, ProxyEndpoints: in.ProxyEndpoints, Hosts: map[string]Hosts{}}
	for host, mirrors := range in.Hosts {
		var out []Mirror
		for _, m := range mirrors {
			mirror := Mirror{Host: m.Host, Scheme: strings.ToLower(m.Scheme), CA: m.CA, Rewrites: m.Rewrites}
			if m.Auth != nil {
				mirror.Auth = Auth{
					Username: m.Auth.Username,
					Password: m.Auth.Password,
					Auth:     base64.StdEncoding.EncodeToString([]byte(m.Auth.Username + ":" + m.Auth.Password)),
				}
			}
			out = append(out, mirror)
		}
		c.Hosts[host] = Hosts{Mirrors: out}
	}
	return c
}

// Version is the hash of the config's JSON with Version empty.
func Version(c Config) (string, error) {
	c.Version = ""
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func run(stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(stdin)
	dec.DisallowUnknownFields()
	var in input
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("versionhash: reading the NodeConfig on stdin: %w", err)
	}
	v, err := Version(convert(in))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, v)
	return err
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
