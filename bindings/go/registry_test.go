package registry

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func config(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "configs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func validate(t *testing.T, name string) *Settings {
	t.Helper()
	s, err := LoadSettings(config(t, name), LoadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// workspaceVersion reads [workspace.package] version from the workspace Cargo.toml, the
// version every crate of the repository (the C library too) takes.
func workspaceVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "Cargo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if ok && section == "[workspace.package]" && strings.TrimSpace(key) == "version" {
			return strings.Trim(strings.TrimSpace(value), `"`)
		}
	}
	t.Fatal("no [workspace.package] version in Cargo.toml")
	return ""
}

func TestVersion(t *testing.T) {
	want := workspaceVersion(t)
	if Version() != want {
		t.Fatalf("library version %q, Cargo.toml says %q", Version(), want)
	}
	// The library's ABI equals the header's: init panics otherwise, so reaching here proves it.
	if ABIVersion <= 0 {
		t.Fatalf("ABI %d", ABIVersion)
	}
	if StatusNotFound.String() != "NotFound" || Status(999).String() != "Unknown" {
		t.Fatal("status names")
	}
}

func TestValidateProxy(t *testing.T) {
	s := validate(t, "proxy.yaml")
	if s.Mode != ModeProxy || s.TTL != "72h0m0s" {
		t.Fatalf("mode %s ttl %s", s.Mode, s.TTL)
	}
	u := s.Upstream
	if u.Host != "nexus.example.com" || u.Port != 8443 || u.Path != "/dkp/ee" || u.Scheme != "HTTPS" || u.Address() != "nexus.example.com:8443" {
		t.Fatalf("upstream %+v", u)
	}
	if !strings.HasPrefix(u.CA, "-----BEGIN CERTIFICATE-----") || u.CheckMode != "Default" {
		t.Fatalf("ca/checkMode %q %q", u.CA, u.CheckMode)
	}
	if u.Credentials.Username != "svc-deckhouse" || u.Credentials.Password != "example-password" {
		t.Fatal("credentials")
	}
	if shown := u.Credentials.String(); strings.Contains(shown, "example-password") {
		t.Fatalf("credentials shown: %s", shown)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := LoadSettings(config(t, "invalid.yaml"), LoadOptions{})
	if !errors.Is(err, ErrInvalidSettings) {
		t.Fatalf("err %v", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal("not a ValidationError")
	}
	codes := map[string]string{}
	for _, p := range ve.Problems {
		codes[p.Code] = p.Path
	}
	for _, want := range []string{"SectionNotAllowed", "InvalidPort", "InvalidPath", "CaWithHttp", "ConflictingCredentials", "TtlTooShort"} {
		if _, ok := codes[want]; !ok {
			t.Errorf("missing problem %s in %v", want, codes)
		}
	}
	if codes["TtlTooShort"] != "spec.settings.registry.proxy.ttl" {
		t.Errorf("ttl path %q", codes["TtlTooShort"])
	}
	if strings.Contains(err.Error(), "example-license-key") {
		t.Error("license key in the error")
	}
}

func TestValidateErrors(t *testing.T) {
	_, err := LoadSettings(config(t, "proxy.yaml"), LoadOptions{Bootstrap: true})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Code != "ModeNotAllowedAtBootstrap" {
		t.Fatalf("bootstrap: %v", err)
	}
	if _, err := LoadSettings([]byte("a: ["), LoadOptions{}); !errors.Is(err, ErrInvalidDocument) {
		t.Fatalf("syntax: %v", err)
	}
	if _, err := LoadSettings([]byte{0xff, 0xfe}, LoadOptions{}); !errors.Is(err, ErrInvalidDocument) {
		t.Fatalf("not text: %v", err)
	}
	if _, err := LoadSettings(nil, LoadOptions{}); !errors.Is(err, ErrInvalidDocument) {
		t.Fatalf("empty: %v", err)
	}
}

func TestPlan(t *testing.T) {
	local, proxy, direct := validate(t, "local.yaml"), validate(t, "proxy.yaml"), validate(t, "direct.yaml")
	facts := config(t, "cluster.yaml")
	d, err := Plan(local, proxy, facts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || strings.Join(modes(d.Route), ",") != "Local,Direct,Proxy" || d.Reasons[0].Code != "TransitionNotSupported" {
		t.Fatalf("local->proxy %+v", d)
	}
	d, err = Plan(direct, proxy, facts)
	if err != nil {
		t.Fatal(err)
	}
	wantStages := "RegistryContainsRequiredImages,ContainerdConfigPreflightReady,NodeServicesReady,TransitionContainerdConfigReady,DeckhouseRegistrySwitchReady,FinalContainerdConfigReady,CleanupInClusterProxy"
	if !d.Allowed || d.From != ModeDirect || d.To != ModeProxy || strings.Join(d.Stages, ",") != wantStages || d.Restarts[0] != "Deckhouse" {
		t.Fatalf("direct->proxy %+v", d)
	}
	d, err = Plan(direct, proxy, config(t, "cluster-cloud.yaml"))
	if err != nil || d.Allowed {
		t.Fatalf("cloud: %v %+v", err, d)
	}
	if _, err := Plan(direct, proxy, []byte("clusterType: Moon")); !errors.Is(err, ErrInvalidFacts) {
		t.Fatalf("facts: %v", err)
	}
	if _, err := Plan(nil, proxy, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil: %v", err)
	}
	// Settings built in Go reach the library through the same JSON schema.
	built := &Settings{Mode: ModeUnmanaged, Upstream: &Upstream{Host: "registry.example.com", Path: "/deckhouse/ce"}}
	d, err = Plan(direct, built, nil)
	if err != nil || !d.Allowed || d.To != ModeUnmanaged {
		t.Fatalf("built: %v %+v", err, d)
	}
	bad := &Settings{Mode: "Nope"}
	if _, err := Plan(direct, bad, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad mode: %v", err)
	}
}

func modes(ms []Mode) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

func TestRenderApplyPreflight(t *testing.T) {
	direct, proxy := validate(t, "direct.yaml"), validate(t, "proxy.yaml")
	r, err := Render(direct, nil, nil, RenderOptions{Containerd: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	hosts := r.File("/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml")
	if hosts == nil || hosts.Mode != "0600" || !strings.Contains(hosts.Contents, `[host."https://registry.deckhouse.io"]`) || !strings.Contains(hosts.Contents, `replace = "deckhouse/ee"`) {
		t.Fatalf("hosts.toml %+v", hosts)
	}
	part := r.File("/etc/containerd/deckhouse.d/registry.toml")
	if part == nil || !strings.Contains(part.Contents, "version = 3") {
		t.Fatalf("config part %+v", part)
	}
	// The model's version is a sha256 over it: the same input gives the same hash.
	n, err := BuildNodeConfig(direct, nil, nil)
	if err != nil || len(n.Version) != 64 || !strings.Contains(string(n.Config), `"mode":"Direct"`) {
		t.Fatalf("node config %v %s", err, n.Version)
	}
	n2, err := BuildNodeConfig(direct, nil, nil)
	if err != nil || n2.Version != n.Version {
		t.Fatalf("node config not deterministic: %v", err)
	}

	root := t.TempDir()
	rep, err := Apply(r, root)
	if err != nil || !rep.RestartContainerd || len(rep.Changed) != len(r.Files) {
		t.Fatalf("apply %v %+v", err, rep)
	}
	// A file set edited in Go is applied as edited.
	edited := *r
	edited.Files = append([]RenderedFile(nil), r.Files...)
	edited.HostDirs = nil
	for i := range edited.Files {
		if edited.Files[i].Path == "/etc/containerd/deckhouse.d/registry.toml" {
			edited.Files[i].Contents += "# edited\n"
		}
	}
	rep, err = Apply(&edited, t.TempDir())
	if err != nil || len(rep.Changed) != len(r.Files) {
		t.Fatalf("apply edited %v %+v", err, rep)
	}
	rep, err = Apply(r, root)
	if err != nil || rep.RestartContainerd || len(rep.Changed) != 0 {
		t.Fatalf("apply %v %+v", err, rep)
	}
	rep, err = Apply(r, root)
	if err != nil || rep.RestartContainerd || len(rep.Changed) != 0 {
		t.Fatalf("re-apply %v %+v", err, rep)
	}
	st, err := os.Stat(filepath.Join(root, hosts.Path))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("hosts.toml on disk %v %v", err, st)
	}

	if _, err := Render(proxy, nil, nil, RenderOptions{}); !errors.Is(err, ErrRenderMissingInput) {
		t.Fatalf("proxy without facts: %v", err)
	}
	if _, err := Render(direct, nil, nil, RenderOptions{Containerd: "v2", Dialect: "upstream"}); !errors.Is(err, ErrRenderRefused) {
		t.Fatalf("upstream dialect: %v", err)
	}
	if _, err := Render(direct, nil, nil, RenderOptions{Containerd: "v1", Version: "2.1"}); !errors.Is(err, ErrRenderInvalidOptions) {
		t.Fatalf("options: %v", err)
	}
	tr, err := Render(proxy, direct, config(t, "cluster.yaml"), RenderOptions{})
	if err != nil || tr.File("/etc/kubernetes/registry-proxy/nginx.conf") == nil {
		t.Fatalf("transition: %v", err)
	}
	// Local -> Proxy is refused (only through Direct): so is its render, unless skipped.
	local := validate(t, "local.yaml")
	if _, err := Render(proxy, local, config(t, "cluster.yaml"), RenderOptions{}); !errors.Is(err, ErrTransitionRefused) {
		t.Fatalf("refused switch: %v", err)
	}
	if _, err := Render(proxy, local, config(t, "cluster.yaml"), RenderOptions{SwitchCheck: "skip"}); err != nil {
		t.Fatalf("skipped switch check: %v", err)
	}

	plan, err := StaleHostDirs([]string{"a", "b", "../etc"}, []string{"b"})
	if err != nil || strings.Join(plan.Remove, ",") != "a" || strings.Join(plan.Ignored, ",") != "../etc" {
		t.Fatalf("cleanup %v %+v", err, plan)
	}

	etc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(etc, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m\"]\n"
	if err := os.WriteFile(filepath.Join(etc, "conf.d", "10-mirror.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	pre, err := Preflight(etc)
	if err != nil || !pre.HasCustomRegistryConfig || pre.Findings[0].File != "conf.d/10-mirror.toml" || pre.Findings[0].Line != 1 {
		t.Fatalf("preflight %v %+v", err, pre)
	}
	pre, err = Preflight(t.TempDir())
	if err != nil || pre.HasCustomRegistryConfig {
		t.Fatalf("empty preflight %v %+v", err, pre)
	}
	if _, err := Preflight("bad\x00path"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL: %v", err)
	}
}

// Settings decoded from the library and encoded again are exactly what the library produced,
// so typed Settings lose nothing on the way back to Plan and Render.
func TestSettingsRoundTrip(t *testing.T) {
	for _, name := range []string{"direct.yaml", "proxy.yaml", "local.yaml", "unmanaged.yaml", "unmanaged-legacy.yaml", "bootstrap-legacy.yaml"} {
		view, err := loadSettingsJSON(config(t, name), LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var v struct {
			Settings json.RawMessage `json:"settings"`
		}
		if err := json.Unmarshal([]byte(view), &v); err != nil {
			t.Fatal(err)
		}
		raw := string(v.Settings)
		var s Settings
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal([]byte(raw), &a)
		_ = json.Unmarshal(again, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: library %s, Go %s", name, raw, again)
		}
	}
}

// A bad option value is named in the error as it was given (options hold no secrets).
func TestBadOptionValuesAreQuoted(t *testing.T) {
	s := validate(t, "direct.yaml")
	_, err := Render(s, nil, nil, RenderOptions{Containerd: "v2", Version: "x.y"})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `"x.y"`) || strings.Contains(err.Error(), "…") {
		t.Fatalf("version x.y: %v", err)
	}
	_, err = Render(s, nil, nil, RenderOptions{Dialect: "fancy"})
	if err == nil || !strings.Contains(err.Error(), "fancy") || strings.Contains(err.Error(), "…") {
		t.Fatalf("dialect fancy: %v", err)
	}
}

// An empty path would be the current directory: OpenStore, Apply and Preflight refuse it, and a
// missing preflight folder is an error (registryctl preflight exits 2 for it), not an empty report.
func TestEmptyPathsAndMissingPreflightFolder(t *testing.T) {
	if _, err := OpenStore("", StoreOptions{}); !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "empty path") {
		t.Fatalf("OpenStore(\"\"): %v", err)
	}
	r, err := Render(validate(t, "direct.yaml"), nil, nil, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(r, ""); !errors.Is(err, ErrApplyRefused) || !strings.Contains(err.Error(), "empty path") {
		t.Fatalf("Apply(r, \"\"): %v", err)
	}
	if _, err := Preflight(""); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "empty path") {
		t.Fatalf("Preflight(\"\"): %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if rep, err := Preflight(missing); !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Preflight(missing): %v %+v", err, rep)
	}
}
