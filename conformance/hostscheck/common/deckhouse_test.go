package hostscheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDeckhouseStrictErrors(t *testing.T) {
	cases := []struct {
		toml string
		want []string // substrings of strict_error; none means ""
	}{
		{"", nil},
		{"[host]\n", nil},
		{"server = \"https://r\"\ncapabilities = [\"Pull\", \"referrers\"]\nca = [\"a.pem\", \"b.pem\"]\nclient = [\"c.pem\", [\"d.crt\", \"d.key\"]]\n" +
			"skip_verify = false\noverride_path = true\ndial_timeout = \"1.5s\"\n[header]\n  a = \"1\"\n  b = [\"2\", \"3\"]\n", nil},
		{"[host.\"https://m\"]\ndial_timeout = 5\n", []string{`host."https://m".dial_timeout: toml: cannot decode TOML integer`, "(line 2, column 16)"}},
		{"[host.\"https://m\"]\ndial_timeout = \"5\"\n", []string{`host."https://m".dial_timeout: time: missing unit in duration "5"`}},
		{"skip_verify = \"true\"\n", []string{"skip_verify: toml: cannot decode TOML string"}},
		{"capabilities = \"pull\"\n", []string{"capabilities: toml:"}},
		{"[host.\"https://m\"]\nauth = \"x\"\n", []string{`host."https://m".auth: toml:`}},
		{"[[host.\"https://m\".auth]]\nusername = \"u\"\n", []string{`host."https://m".auth: toml: cannot store an array table`}},
		{"[host.\"https://m\"]\nrewrite = { regex = \"a\" }\n", []string{`host."https://m".rewrite: toml:`}},
		{"mirrors = [\"x\"]\n[host.\"https://m\".header]\nx = \"1\"\n[host.\"https://m\".auth]\nuser = \"u\"\n",
			[]string{"unknown key mirrors (line 1, column 1)", `unknown key host."https://m".auth.user (line 5, column 1)`}},
		{"[host.\"https://m\".rewrite]\nregex = \"a\"\n[rewrite]\n", []string{`host."https://m".rewrite: must be an array of tables [[host."https://m".rewrite]], not a table`,
			"; rewrite: must be an array of tables [[rewrite]], not a table"}},
		{"rewrite = [{ regex = \"a\", replace = \"b\" }]\n[host.\"https://m\"]\nrewrite = [{ regex = \"c\" }]\n", nil},
		{"[[rewrite]]\nregex = \"(\"\nreplace = \"\"\n[[rewrite]]\nregex = \"[\"\n", []string{"rewrite[0].regex: error parsing regexp", "; rewrite[1].regex: error parsing regexp"}},
		{"ca = 5\nclient = [[\"a\"], 3]\n[header]\nx = 1\n", []string{
			"ca: must be a string or an array of strings, not an integer",
			"client[0]: must be a [cert, key] pair of strings",
			"client[1]: must be a string or a [cert, key] pair, not an integer",
			`header."x": must be a string or an array of strings, not an integer`}},
		{"capabilities = [\"pull\", \"fetch\"]\n", []string{`capabilities: unknown capability "fetch"`}},
		{"x = \"unterminated\n", []string{"toml: basic strings cannot have new lines (line 1"}},
	}
	for _, c := range cases {
		d := DecodeDeckhouseBytes([]byte(c.toml))
		if len(c.want) == 0 && d.StrictError != "" {
			t.Errorf("%q: strict_error = %q, want none", c.toml, d.StrictError)
		}
		if len(c.want) > 0 && d.StrictError == "" {
			t.Errorf("%q: no strict_error, want %q", c.toml, c.want)
		}
		for _, w := range c.want {
			if !strings.Contains(d.StrictError, w) {
				t.Errorf("%q: strict_error = %q, want it to contain %q", c.toml, d.StrictError, w)
			}
		}
	}
}

func TestDeckhouseOrderAndSummary(t *testing.T) {
	const doc = `server = "https://up"
[host."https://z"]
[host."https://a"]
  [host."https://a".auth]
    auth = "bm9jb2xvbg=="
[[host."https://y".rewrite]]
  regex = "^a$"
  replace = "b"
[host."https://z".auth]
  username = "zed"
  password = "pw-SECRET"
  identitytoken = "tok-SECRET"
[host]
  "https://x" = { auth = { auth = "!!" } }
  "https://w".capabilities = ["pull"]
[auth]
  auth = "dXNlcjpwOnE="
`
	d := DecodeDeckhouseBytes([]byte(doc))
	if d.StrictError != "" {
		t.Fatalf("strict_error = %q", d.StrictError)
	}
	var urls []string
	for _, h := range d.Hosts {
		urls = append(urls, h.URL)
	}
	if want := []string{"https://z", "https://a", "https://y", "https://x", "https://w"}; !slices.Equal(urls, want) {
		t.Errorf("order = %q, want %q", urls, want)
	}
	byURL := map[string]DeckhouseHost{}
	for _, h := range d.Hosts {
		byURL[h.URL] = h
	}
	check := func(name string, got *AuthSummary, want *AuthSummary) {
		t.Helper()
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("%s auth = %+v, want %+v", name, got, want)
		}
	}
	check("root", d.Root.Auth, &AuthSummary{AuthDecodedUser: "user"}) // user:p:q
	if d.Root.URL != "https://up" {
		t.Errorf("root url = %q", d.Root.URL)
	}
	check("z", byURL["https://z"].Auth, &AuthSummary{Username: "zed", HasPassword: true, HasIdentityToken: true})
	check("a", byURL["https://a"].Auth, &AuthSummary{AuthError: `decoded auth has no ":"`})
	check("x", byURL["https://x"].Auth, &AuthSummary{AuthError: "auth is not valid base64"})
	check("w", byURL["https://w"].Auth, nil)
	if r := byURL["https://y"].Rewrites; len(r) != 1 || r[0] != (RewriteInfo{Regex: "^a$", Replace: "b", ValidRegex: true}) {
		t.Errorf("y rewrites = %+v", r)
	}
	if r := byURL["https://w"].Rewrites; r == nil || len(r) != 0 {
		t.Errorf("w rewrites = %#v, want []", r)
	}

	out, _ := json.Marshal(d)
	for _, s := range []string{"SECRET", "bm9jb2xvbg", "dXNlcjpwOnE", "p:q"} {
		if strings.Contains(string(out), s) {
			t.Errorf("output reveals %q: %s", s, out)
		}
	}
}

func TestDecodeDeckhouseFile(t *testing.T) {
	dir := t.TempDir()
	if d := DecodeDeckhouse(filepath.Join(dir, "hosts.toml")); d != nil {
		t.Errorf("missing file: %+v, want nil", d)
	}
	if err := os.Mkdir(filepath.Join(dir, "hosts.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if d := DecodeDeckhouse(filepath.Join(dir, "hosts.toml")); d == nil || d.StrictError == "" || d.Hosts == nil {
		t.Errorf("unreadable file: %+v, want a strict_error", d)
	}
}
