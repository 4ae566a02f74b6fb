package hostschecktest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	hostscheck "github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common"
)

// Version describes what CONTAINERD-HOSTS.md §3 and §5 say about the
// containerd version under test. The expectations in Run are derived from
// these rules and the worked examples of §10.
type Version struct {
	// ParserPrefix is the expected start of the report's "parser" field,
	// e.g. "containerd v2.4.".
	ParserPrefix string
	// Referrers: the "referrers" capability exists (≥ 2.2); it is also in
	// the default capability set.
	Referrers bool
	// DialTimeout: "dial_timeout" is decoded (≥ 2.0.7/2.1); before, it is an
	// unknown key and ignored.
	DialTimeout bool
	// HeaderOrder: host order comes from the table headers (2.x): a header
	// host.X adds X when X differs from the previous header's X, so hosts
	// repeat, and hosts written as inline tables are dropped. Otherwise
	// (1.7): the keys of the host tree sorted by line, each once, inline
	// tables kept.
	HeaderOrder bool
	// HostTableRequired: a file without a `host` table is rejected
	// (1.6.x, 1.7.0–1.7.31).
	HostTableRequired bool
	// HeaderOwnClient: a host with only a header (no TLS keys) gets its own
	// copy of the shared http.Client (2.x), so an HTTP-fallback wrapper put
	// on it stays on that host. In 1.7 it uses the shared client.
	HeaderOwnClient bool
	// SyntaxErrorPrefix starts decode_error for a TOML syntax error:
	// "toml: " (go-toml/v2) or "failed to parse TOML: (" (1.7, go-toml v1
	// with line and column).
	SyntaxErrorPrefix string
}

func (v Version) allCaps() string {
	if v.Referrers {
		return "[pull,resolve,push,referrers]"
	}
	return "[pull,resolve,push]"
}

// RunSuite runs the conformance tests for backend b.
func RunSuite(t *testing.T, b hostscheck.Backend, v Version) {
	all := v.allCaps()

	t.Run("Parser", func(t *testing.T) {
		o := Run(t, b, "--root", t.TempDir(), "docker.io")
		if !strings.HasPrefix(o.Report.Parser, v.ParserPrefix) {
			t.Errorf("parser = %q, want prefix %q", o.Report.Parser, v.ParserPrefix)
		}
	})

	t.Run("NoDirectory", func(t *testing.T) {
		root := Tree(t, map[string]string{"other.example/hosts.toml": "[host]\n"})
		r := Resolve(t, b, root, "quay.io")
		expectNoProblems(t, r)
		if r.DirFound || r.Dir != "" || r.Deckhouse != nil {
			t.Errorf("dir = %q found=%v deckhouse=%v, want none", r.Dir, r.DirFound, r.Deckhouse)
		}
		expectHosts(t, r, "https quay.io /v2 "+all)
		// docker.io is filled in as registry-1.docker.io.
		r = Resolve(t, b, root, "docker.io")
		expectHosts(t, r, "https registry-1.docker.io /v2 "+all)
	})

	t.Run("A_PortCAMirror", func(t *testing.T) {
		ca, _ := SelfSigned(t, "registry.example")
		const toml = `server = "https://registry.example:5000"
ca = "ca.pem"
[host."https://cache.example"]
  capabilities = ["pull", "resolve"]
  [host."https://cache.example".header]
    x-team = "infra"
`
		root := Tree(t, map[string]string{
			"registry.example:5000/hosts.toml": toml,
			"registry.example:5000/ca.pem":     ca,
		})
		want := []string{
			`https cache.example /v2 [pull,resolve] header={"x-team":["infra"]}`,
			"https registry.example:5000 /v2 " + all + " custom_ca",
		}
		for _, mode := range []string{"cri", "ctr"} {
			t.Run(mode, func(t *testing.T) {
				r := Resolve(t, b, root, "registry.example:5000", "--mode", mode)
				expectNoProblems(t, r)
				if want := filepath.Join(root, "registry.example:5000"); r.Dir != want || !r.DirFound {
					t.Errorf("dir = %q (found %v), want %q", r.Dir, r.DirFound, want)
				}
				expectHosts(t, r, want...)
			})
		}
	})

	t.Run("A_ClientCert", func(t *testing.T) {
		cert, key := SelfSigned(t, "client")
		root := Tree(t, map[string]string{
			"registry.example:5000/hosts.toml": "[host]\n" +
				"[host.\"https://cache.example\"]\n  client = \"client.pem\"\n" +
				"[host.\"https://mtls.example\"]\n  client = [[\"c.crt\", \"c.key\"], \"client.pem\"]\n",
			"registry.example:5000/client.pem": cert + key,
			"registry.example:5000/c.crt":      cert,
			"registry.example:5000/c.key":      key,
		})
		r := Resolve(t, b, root, "registry.example:5000")
		expectNoProblems(t, r)
		expectHosts(t, r,
			"https cache.example /v2 "+all+" client_certs=1",
			"https mtls.example /v2 "+all+" client_certs=2",
			"https registry.example:5000 /v2 "+all)
	})

	t.Run("B_PathPrefixMirror", func(t *testing.T) {
		root := Tree(t, map[string]string{
			"docker.io/hosts.toml": "[host.\"https://nexus.corp/repository/dockerhub\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		})
		for _, mode := range []string{"cri", "ctr"} {
			t.Run(mode, func(t *testing.T) {
				r := Resolve(t, b, root, "docker.io", "--mode", mode)
				expectNoProblems(t, r)
				expectHosts(t, r,
					"https nexus.corp /repository/dockerhub/v2 [pull,resolve]",
					"https registry-1.docker.io /v2 "+all)
			})
		}
		t.Run("override_path", func(t *testing.T) {
			root := Tree(t, map[string]string{
				"docker.io/hosts.toml": "[host.\"https://nexus.corp/repository/dockerhub\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
			})
			r := Resolve(t, b, root, "docker.io")
			expectNoProblems(t, r)
			expectHosts(t, r,
				"https nexus.corp /repository/dockerhub [pull,resolve]",
				"https registry-1.docker.io /v2 "+all)
		})
	})

	t.Run("C_PlainHTTPMirror", func(t *testing.T) {
		const right = "[host]\n[host.\"http://10.0.0.5:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
		root := Tree(t, map[string]string{
			"right.example/hosts.toml":     right,
			"skiptrue.example/hosts.toml":  right + "  skip_verify = true\n",
			"skipfalse.example/hosts.toml": right + "  skip_verify = false\n",
			"port80.example/hosts.toml":    "[host]\n[host.\"http://10.0.0.5:80\"]\n  skip_verify = true\n",
		})
		t.Run("cri", func(t *testing.T) {
			r := Resolve(t, b, root, "right.example")
			expectNoProblems(t, r)
			expectHosts(t, r,
				"http 10.0.0.5:5000 /v2 [pull,resolve]",
				"https right.example /v2 "+all)
		})
		t.Run("cri_skip_verify_true", func(t *testing.T) {
			// Explicit TLS on an http host not on port 80: https first.
			r := Resolve(t, b, root, "skiptrue.example")
			expectNoProblems(t, r)
			expectHosts(t, r,
				"https 10.0.0.5:5000 /v2 [pull,resolve] fallback skip_verify",
				"https skiptrue.example /v2 "+all)
		})
		t.Run("cri_skip_verify_false", func(t *testing.T) {
			// Being present at all counts as explicit TLS.
			r := Resolve(t, b, root, "skipfalse.example")
			expectNoProblems(t, r)
			expectHosts(t, r,
				"https 10.0.0.5:5000 /v2 [pull,resolve] fallback",
				"https skipfalse.example /v2 "+all)
		})
		t.Run("cri_port_80", func(t *testing.T) {
			r := Resolve(t, b, root, "port80.example")
			expectNoProblems(t, r)
			expectHosts(t, r,
				"http 10.0.0.5:80 /v2 "+all+" skip_verify",
				"https port80.example /v2 "+all)
		})
		t.Run("ctr", func(t *testing.T) {
			// DefaultTLS makes every http host not on port 80 try https
			// first. The mirror has no TLS keys of its own, so it uses the
			// client shared by all such hosts, and the fallback wrapper
			// lands on that shared client: the https upstream reports it
			// too (§3).
			r := Resolve(t, b, root, "right.example", "--mode", "ctr")
			expectNoProblems(t, r)
			expectHosts(t, r,
				"https 10.0.0.5:5000 /v2 [pull,resolve] fallback",
				"https right.example /v2 "+all+" fallback")
		})
	})

	t.Run("DefaultSchemeAndLocalhost", func(t *testing.T) {
		root := t.TempDir()
		cases := []struct {
			ns    string
			flags []string
			want  string
		}{
			{"x.example", []string{"--plain-http"}, "http x.example /v2 " + all},
			{"x.example", []string{"--plain-http", "--mode", "ctr"}, "https x.example /v2 " + all + " fallback"},
			{"localhost:5000", nil, "https localhost:5000 /v2 " + all + " fallback skip_verify"},
			{"localhost", nil, "https localhost /v2 " + all + " skip_verify"},
			{"127.0.0.1:80", nil, "http 127.0.0.1:80 /v2 " + all},
		}
		for _, c := range cases {
			r := Resolve(t, b, root, c.ns, c.flags...)
			expectNoProblems(t, r)
			if got := HostLines(r); !slices.Equal(got, []string{c.want}) {
				t.Errorf("%s %v:\n got %q\nwant %q", c.ns, c.flags, got, c.want)
			}
		}
	})

	t.Run("DirectoryLookup", func(t *testing.T) {
		mirror := func(h string) string { return "[host]\n[host.\"https://" + h + "\"]\n" }
		root := Tree(t, map[string]string{
			"registry.example_5000_/hosts.toml": mirror("underscore.example"),
			"registry.example:5000/hosts.toml":  mirror("colon.example"),
			"_default/hosts.toml":               mirror("default.example"),
			"empty.example/":                    "",
		})
		r := Resolve(t, b, root, "registry.example:5000")
		if want := filepath.Join(root, "registry.example_5000_"); r.Dir != want {
			t.Errorf("dir = %q, want %q", r.Dir, want)
		}
		expectHosts(t, r, "https underscore.example /v2 "+all, "https registry.example:5000 /v2 "+all)

		r = Resolve(t, b, root, "quay.io")
		if want := filepath.Join(root, "_default"); r.Dir != want {
			t.Errorf("dir = %q, want %q", r.Dir, want)
		}
		expectHosts(t, r, "https default.example /v2 "+all, "https quay.io /v2 "+all)

		// An existing but empty directory hides _default: upstream only.
		r = Resolve(t, b, root, "empty.example")
		expectNoProblems(t, r)
		if r.Deckhouse != nil {
			t.Errorf("deckhouse = %+v, want null without hosts.toml", r.Deckhouse)
		}
		expectHosts(t, r, "https empty.example /v2 "+all)
	})

	t.Run("E_SilentlyBroken", func(t *testing.T) {
		root := Tree(t, map[string]string{
			"e.example/hosts.toml": "[host.\"https://m.corp\"]\n  capabilities = [\"pull\", \"referrers\"]\n  dial_timeout = 5\n",
		})
		for _, mode := range []string{"cri", "ctr"} {
			t.Run(mode, func(t *testing.T) {
				r := Resolve(t, b, root, "e.example", "--mode", mode)
				if r.DecodeError == "" || r.Error != "" {
					t.Errorf("decode_error = %q, error = %q; want a decode error only", r.DecodeError, r.Error)
				}
				if !v.Referrers && !strings.Contains(r.DecodeError, "unknown capability referrers") {
					t.Errorf("decode_error = %q, want unknown capability referrers", r.DecodeError)
				}
				// The whole file falls back to upstream only.
				expectHosts(t, r, "https e.example /v2 "+all)
			})
		}
	})

	t.Run("Referrers", func(t *testing.T) {
		root := Tree(t, map[string]string{
			"r.example/hosts.toml": "[host]\n[host.\"https://m.corp\"]\n  capabilities = [\"PULL\", \"referrers\"]\n",
		})
		r := Resolve(t, b, root, "r.example")
		if v.Referrers {
			expectNoProblems(t, r)
			expectHosts(t, r, "https m.corp /v2 [pull,referrers]", "https r.example /v2 "+all)
		} else {
			if !strings.Contains(r.DecodeError, "unknown capability referrers") {
				t.Errorf("decode_error = %q, want unknown capability referrers", r.DecodeError)
			}
			expectHosts(t, r, "https r.example /v2 "+all)
		}
	})

	t.Run("DialTimeout", func(t *testing.T) {
		root := Tree(t, map[string]string{
			"ok.example/hosts.toml":   "[host]\n[host.\"https://m.corp\"]\n  dial_timeout = \"1s\"\n",
			"unit.example/hosts.toml": "[host]\n[host.\"https://m.corp\"]\n  dial_timeout = \"5\"\n",
			"int.example/hosts.toml":  "[host]\n[host.\"https://m.corp\"]\n  dial_timeout = 5\n",
		})
		r := Resolve(t, b, root, "ok.example")
		expectNoProblems(t, r)
		expectHosts(t, r, "https m.corp /v2 "+all, "https ok.example /v2 "+all)
		for _, ns := range []string{"unit.example", "int.example"} {
			r := Resolve(t, b, root, ns)
			if v.DialTimeout {
				if r.DecodeError == "" {
					t.Errorf("%s: no decode_error", ns)
				}
				expectHosts(t, r, "https "+ns+" /v2 "+all)
			} else {
				// An unknown key to this version: ignored.
				expectNoProblems(t, r)
				expectHosts(t, r, "https m.corp /v2 "+all, "https "+ns+" /v2 "+all)
			}
		}
		if v.DialTimeout {
			r := Resolve(t, b, root, "unit.example")
			if !strings.Contains(r.DecodeError, "missing unit") {
				t.Errorf("decode_error = %q, want time.ParseDuration's missing unit", r.DecodeError)
			}
		}
	})

	t.Run("F_Reordered", func(t *testing.T) {
		const f = "[host.\"https://a.corp\"]\n[host.\"https://b.corp\"]\n[host.\"https://a.corp\".header]\n  x = \"1\"\n"
		root := Tree(t, map[string]string{
			"f.example/hosts.toml": f,
			"inline.example/hosts.toml": f + "[host.\"https://d.corp\"]\n[host]\n" +
				"  \"https://c.corp\" = { capabilities = [\"pull\"] }\n" +
				"  \"https://e.corp\".capabilities = [\"resolve\"]\n",
		})
		a := `https a.corp /v2 ` + all + ` header={"x":["1"]}`
		b2 := "https b.corp /v2 " + all
		r := Resolve(t, b, root, "f.example")
		expectNoProblems(t, r)
		if v.HeaderOrder {
			expectHosts(t, r, a, b2, a, "https f.example /v2 "+all)
		} else {
			expectHosts(t, r, a, b2, "https f.example /v2 "+all)
		}

		r = Resolve(t, b, root, "inline.example")
		expectNoProblems(t, r)
		c := "https c.corp /v2 [pull]"
		d := "https d.corp /v2 " + all
		e := "https e.corp /v2 [resolve]"
		if v.HeaderOrder {
			// The inline c.corp and the dotted e.corp are decoded but never
			// listed: dropped without notice.
			expectHosts(t, r, a, b2, a, d, "https inline.example /v2 "+all)
		} else {
			// Sorted by the line of each host's table. go-toml v1 gives an
			// inline table the position (0, 0), so c.corp sorts first (and
			// several inline hosts would come in random order: sort.Slice
			// over map keys). Dotted keys keep their line.
			expectHosts(t, r, c, a, b2, d, e, "https inline.example /v2 "+all)
		}
		// The Deckhouse view lists each URL once, in first-appearance order,
		// inline tables and dotted keys included.
		if got := deckhouseURLs(r); !slices.Equal(got, []string{"https://a.corp", "https://b.corp", "https://d.corp", "https://c.corp", "https://e.corp"}) {
			t.Errorf("deckhouse hosts = %q", got)
		}
	})

	t.Run("SharedClientCtr", func(t *testing.T) {
		// ctr mode: an http mirror whose only key is a header.
		root := Tree(t, map[string]string{
			"h.example/hosts.toml": "[host]\n[host.\"http://10.0.0.5:5000\".header]\n  x = \"1\"\n",
		})
		r := Resolve(t, b, root, "h.example", "--mode", "ctr")
		expectNoProblems(t, r)
		up := "https h.example /v2 " + all
		if !v.HeaderOwnClient {
			up += " fallback" // the wrapper landed on the shared client
		}
		expectHosts(t, r, `https 10.0.0.5:5000 /v2 `+all+` header={"x":["1"]} fallback`, up)
	})

	t.Run("MalformedFiles", func(t *testing.T) {
		root := Tree(t, map[string]string{
			"syntax.example/hosts.toml":   "[host]\n[host.\"https://x\"]\n  capabilities = [\"pull\"\n",
			"dup.example/hosts.toml":      "[host.\"https://x\"]\n  capabilities = [\"pull\"]\n[host.\"https://x\"]\n  skip_verify = true\n",
			"types.example/hosts.toml":    "[host]\n[host.\"https://x\"]\n  skip_verify = \"true\"\n",
			"ca.example/hosts.toml":       "[host]\n[host.\"https://x\"]\n  ca = 5\n",
			"nontable.example/hosts.toml": "[host]\n  \"https://x\" = 5\n[host.\"https://y\"]\n",
		})
		for _, ns := range []string{"syntax.example", "dup.example", "types.example", "ca.example"} {
			r := Resolve(t, b, root, ns)
			if r.DecodeError == "" || r.Error != "" {
				t.Errorf("%s: decode_error = %q, error = %q; want a decode error only", ns, r.DecodeError, r.Error)
			}
			expectHosts(t, r, "https "+ns+" /v2 "+all)
		}
		r := Resolve(t, b, root, "syntax.example")
		if !strings.HasPrefix(r.DecodeError, v.SyntaxErrorPrefix) {
			t.Errorf("decode_error = %q, want prefix %q", r.DecodeError, v.SyntaxErrorPrefix)
		}
		r = Resolve(t, b, root, "ca.example")
		if !strings.Contains(r.DecodeError, `invalid type 5 for "ca"`) {
			t.Errorf("decode_error = %q, want invalid type 5 for \"ca\"", r.DecodeError)
		}

		// A non-table value under `host`: 2.x rejects the file; 1.7's sort by
		// line asserts every value is a table and panics (the harness turns
		// the panic into an error).
		r = Resolve(t, b, root, "nontable.example")
		if v.HeaderOrder {
			if r.DecodeError == "" || r.Error != "" {
				t.Errorf("decode_error = %q, error = %q; want a decode error only", r.DecodeError, r.Error)
			}
			expectHosts(t, r, "https nontable.example /v2 "+all)
		} else if !strings.Contains(r.Error, "containerd panicked") || len(r.Hosts) != 0 {
			t.Errorf("error = %q, hosts = %q; want a panic", r.Error, HostLines(r))
		}
	})

	t.Run("NoHostTable", func(t *testing.T) {
		root := Tree(t, map[string]string{
			"registry.example:5000/hosts.toml": "server = \"https://registry.example:5000\"\ncapabilities = [\"pull\", \"resolve\"]\n",
		})
		r := Resolve(t, b, root, "registry.example:5000")
		if v.HostTableRequired {
			if !strings.Contains(r.DecodeError, "invalid `host` tree") {
				t.Errorf("decode_error = %q, want invalid `host` tree", r.DecodeError)
			}
			expectHosts(t, r, "https registry.example:5000 /v2 "+all)
		} else {
			expectNoProblems(t, r)
			expectHosts(t, r, "https registry.example:5000 /v2 [pull,resolve]")
		}
	})

	t.Run("ReturnedErrors", func(t *testing.T) {
		root := Tree(t, map[string]string{
			"missing.example/hosts.toml": "[host]\n[host.\"https://m.corp\"]\n  ca = \"missing.pem\"\n",
			"notpem.example/hosts.toml":  "ca = \"ca.pem\"\n[host]\n",
			"notpem.example/ca.pem":      "not a certificate\n",
			"isdir.example/hosts.toml/":  "",
		})
		r := Resolve(t, b, root, "missing.example")
		// containerd reports the absolute path it computed.
		if want := filepath.Join(root, "missing.example", "missing.pem"); !strings.Contains(r.Error, want) || !strings.Contains(r.Error, "unable to read CA cert") {
			t.Errorf("error = %q, want unable to read CA cert %q", r.Error, want)
		}
		if len(r.Hosts) != 0 || r.DecodeError != "" {
			t.Errorf("hosts = %q, decode_error = %q; want none", HostLines(r), r.DecodeError)
		}
		r = Resolve(t, b, root, "notpem.example")
		if !strings.Contains(r.Error, "unable to load CA cert") {
			t.Errorf("error = %q, want unable to load CA cert", r.Error)
		}
		r = Resolve(t, b, root, "isdir.example")
		if r.Error == "" || len(r.Hosts) != 0 {
			t.Errorf("hosts.toml is a directory: error = %q, hosts = %q", r.Error, HostLines(r))
		}

		file := Tree(t, map[string]string{"f": "x"})
		r = Resolve(t, b, filepath.Join(file, "f"), "quay.io")
		if r.Error == "" || r.DirFound || len(r.Hosts) != 0 {
			t.Errorf("root is a file: error = %q, dir_found = %v, hosts = %q", r.Error, r.DirFound, HostLines(r))
		}
	})

	t.Run("Deckhouse", func(t *testing.T) { deckhouseSuite(t, b, v) })

	t.Run("CLI", func(t *testing.T) { cliSuite(t, b) })
}

func deckhouseURLs(r hostscheck.Result) []string {
	if r.Deckhouse == nil {
		return nil
	}
	var out []string
	for _, h := range r.Deckhouse.Hosts {
		out = append(out, h.URL)
	}
	return out
}

func expectNoProblems(t *testing.T, r hostscheck.Result) {
	t.Helper()
	if r.DecodeError != "" || r.Error != "" {
		t.Errorf("%s: decode_error = %q, error = %q; want none", r.NS, r.DecodeError, r.Error)
	}
}

func expectHosts(t *testing.T, r hostscheck.Result, want ...string) {
	t.Helper()
	got := HostLines(r)
	if !slices.Equal(got, want) {
		t.Errorf("%s hosts:\n got %s\nwant %s", r.NS, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}
