package hostschecktest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	hostscheck "github.com/deckhouse/deckhouse-registry/conformance/hostscheck/common"
)

// Secrets used in the Deckhouse fixtures; none may appear in any output.
var fixtureSecrets = []string{"s3cr3t-Pa55", "hunter2-pw", "tok-very-secret", "root-Pa55", "passwd-Secret"}

func deckhouseSuite(t *testing.T, b hostscheck.Backend, v Version) {
	all := v.allCaps()
	auth := base64.StdEncoding.EncodeToString([]byte("deckhouse:hunter2-pw"))
	good := `[host]
[host."https://z.corp:8443"]
  capabilities = ["pull", "resolve"]
  [host."https://z.corp:8443".auth]
    username = "robot"
    password = "s3cr3t-Pa55"
  [[host."https://z.corp:8443".rewrite]]
    regex = "^library/(.*)$"
    replace = "dockerhub/${1}"
  [[host."https://z.corp:8443".rewrite]]
    regex = "^(.*)$"
    replace = "mirror/${1}"
[host."https://a.corp"]
  capabilities = ["pull", "resolve"]
  [host."https://a.corp".auth]
    auth = "` + auth + `"
[host."https://t.corp"]
  [host."https://t.corp".auth]
    identitytoken = "tok-very-secret"
[auth]
  username = "root-user"
  password = "root-Pa55"
[[rewrite]]
  regex = "^sys/(.*)$"
  replace = "${1}"
`
	bad := `[host]
[host."https://m.corp"]
  capabilities = ["pull", "fetch"]
  [host."https://m.corp".auth]
    username = "u"
    passwd = "passwd-Secret"
  [[host."https://m.corp".rewrite]]
    regex = "^library/(.*"
    replace = "x"
  [[host."https://m.corp".rewrite]]
    regex = "^ok/(.*)$"
    replace = "y/${1}"
`
	root := Tree(t, map[string]string{
		"good.example/hosts.toml":  good,
		"bad.example/hosts.toml":   bad,
		"typo.example/hosts.toml":  "[host]\n[host.\"https://m.corp\"]\n  skip_verfy = true\n",
		"array.example/hosts.toml": "[host]\n[host.\"https://m.corp\"]\n  [[host.\"https://m.corp\".auth]]\n    username = \"u\"\n    password = \"passwd-Secret\"\n",
	})

	o := Run(t, b, "--root", root, "good.example", "bad.example", "typo.example", "array.example")
	if o.Code != 0 {
		t.Fatalf("exit %d: %s", o.Code, o.Stderr)
	}
	for _, s := range fixtureSecrets {
		if strings.Contains(o.Stdout, s) || strings.Contains(o.Stderr, s) {
			t.Errorf("output reveals the secret %q", s)
		}
	}
	res := map[string]hostscheck.Result{}
	for _, r := range o.Report.Results {
		res[r.NS] = r
	}

	t.Run("good", func(t *testing.T) {
		r := res["good.example"]
		// Stock containerd ignores auth and rewrite: the hosts resolve as
		// if they were absent, with no complaint.
		expectNoProblems(t, r)
		expectHosts(t, r,
			"https z.corp:8443 /v2 [pull,resolve]",
			"https a.corp /v2 [pull,resolve]",
			"https t.corp /v2 "+all,
			"https good.example /v2 "+all)
		want := hostscheck.Deckhouse{
			Root: hostscheck.DeckhouseHost{
				Auth:     &hostscheck.AuthSummary{Username: "root-user", HasPassword: true},
				Rewrites: []hostscheck.RewriteInfo{{Regex: "^sys/(.*)$", Replace: "${1}", ValidRegex: true}},
			},
			Hosts: []hostscheck.DeckhouseHost{
				{
					URL:  "https://z.corp:8443",
					Auth: &hostscheck.AuthSummary{Username: "robot", HasPassword: true},
					Rewrites: []hostscheck.RewriteInfo{
						{Regex: "^library/(.*)$", Replace: "dockerhub/${1}", ValidRegex: true},
						{Regex: "^(.*)$", Replace: "mirror/${1}", ValidRegex: true},
					},
				},
				{URL: "https://a.corp", Auth: &hostscheck.AuthSummary{AuthDecodedUser: "deckhouse"}, Rewrites: []hostscheck.RewriteInfo{}},
				{URL: "https://t.corp", Auth: &hostscheck.AuthSummary{HasIdentityToken: true}, Rewrites: []hostscheck.RewriteInfo{}},
			},
		}
		expectDeckhouse(t, r, want)
	})

	t.Run("bad", func(t *testing.T) {
		r := res["bad.example"]
		// containerd itself rejects the unknown capability...
		if !strings.Contains(r.DecodeError, "unknown capability fetch") {
			t.Errorf("decode_error = %q", r.DecodeError)
		}
		expectHosts(t, r, "https bad.example /v2 "+all)
		// ...and the strict decode finds the rest.
		if r.Deckhouse == nil {
			t.Fatal("deckhouse = null")
		}
		for _, part := range []string{
			`unknown key host."https://m.corp".auth.passwd (line 6`,
			`host."https://m.corp".capabilities: unknown capability "fetch"`,
			`host."https://m.corp".rewrite[0].regex: error parsing regexp`,
		} {
			if !strings.Contains(r.Deckhouse.StrictError, part) {
				t.Errorf("strict_error = %q, want it to contain %q", r.Deckhouse.StrictError, part)
			}
		}
		if strings.Contains(r.Deckhouse.StrictError, "rewrite[1]") {
			t.Errorf("strict_error = %q blames the valid rewrite", r.Deckhouse.StrictError)
		}
		h := r.Deckhouse.Hosts
		if len(h) != 1 || len(h[0].Rewrites) != 2 || h[0].Rewrites[0].ValidRegex || !h[0].Rewrites[1].ValidRegex {
			t.Errorf("deckhouse hosts = %+v, want one host with rewrites invalid, valid", h)
		}
	})

	t.Run("typo", func(t *testing.T) {
		r := res["typo.example"]
		// containerd: the misspelt key is silently ignored.
		expectNoProblems(t, r)
		expectHosts(t, r, "https m.corp /v2 "+all, "https typo.example /v2 "+all)
		if r.Deckhouse == nil || !strings.Contains(r.Deckhouse.StrictError, `unknown key host."https://m.corp".skip_verfy`) {
			t.Errorf("deckhouse = %+v, want the unknown key skip_verfy", r.Deckhouse)
		}
	})

	t.Run("auth_array", func(t *testing.T) {
		// The patches README's [[host."…".auth]] form: ignored by stock
		// containerd, a type error for the Deckhouse struct.
		r := res["array.example"]
		expectNoProblems(t, r)
		expectHosts(t, r, "https m.corp /v2 "+all, "https array.example /v2 "+all)
		if r.Deckhouse == nil || r.Deckhouse.StrictError == "" {
			t.Errorf("deckhouse = %+v, want a strict_error", r.Deckhouse)
		}
	})
}

func expectDeckhouse(t *testing.T, r hostscheck.Result, want hostscheck.Deckhouse) {
	t.Helper()
	if r.Deckhouse == nil {
		t.Fatal("deckhouse = null")
	}
	got, _ := json.MarshalIndent(r.Deckhouse, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	if string(got) != string(w) {
		t.Errorf("deckhouse:\n got %s\nwant %s", got, w)
	}
}
