// Command hostscheck loads a containerd registry host directory tree with
// the hosts.toml parser of containerd 2.x and prints what it resolved as
// JSON. See ../README.md.
package main

import (
	"context"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/sirupsen/logrus"

	hostscheck "github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common"
)

var capNames = []hostscheck.CapabilityName{
	{Bit: uint(docker.HostCapabilityPull), Name: "pull"},
	{Bit: uint(docker.HostCapabilityResolve), Name: "resolve"},
	{Bit: uint(docker.HostCapabilityPush), Name: "push"},
	{Bit: uint(docker.HostCapabilityReferrers), Name: "referrers"},
}

func backend() hostscheck.Backend {
	return hostscheck.Backend{
		Module:          "github.com/containerd/containerd/v2",
		HostDirFromRoot: config.HostDirFromRoot,
		IsNotFound:      errdefs.IsNotFound,
		WithLogger: func(ctx context.Context, e *logrus.Entry) context.Context {
			return log.WithLogger(ctx, e)
		},
		Resolve: func(ctx context.Context, o hostscheck.Options, ns string) ([]hostscheck.Host, error) {
			hosts, err := config.ConfigureHosts(ctx, config.HostOptions{
				HostDir:       o.HostDir,
				DefaultTLS:    o.DefaultTLS,
				DefaultScheme: o.DefaultScheme,
			})(ns)
			if err != nil {
				return nil, err
			}
			out := make([]hostscheck.Host, len(hosts))
			for i, h := range hosts {
				out[i] = hostscheck.Host{
					Scheme: h.Scheme,
					Host:   h.Host,
					Path:   h.Path,
					Caps:   hostscheck.CapNames(uint(h.Capabilities), capNames),
					Header: h.Header,
					Client: h.Client,
				}
			}
			return out, nil
		},
	}
}

func main() { hostscheck.Main(backend()) }
