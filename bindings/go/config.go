package registry

/*
#include <stdlib.h>
#include "deckhouse_registry.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
)

// Mode is a registry mode.
type Mode string

// The registry modes.
const (
	ModeDirect          Mode = "Direct"
	ModeProxy           Mode = "Proxy"
	ModeLocal           Mode = "Local"
	ModeUnmanaged       Mode = "Unmanaged"
	ModeUnmanagedLegacy Mode = "UnmanagedLegacy"
)

// Settings are validated, normalized registry settings (the core's RegistrySettings).
type Settings struct {
	Mode Mode `json:"mode"`
	// Upstream is the registry images come from; nil for Local and for legacy Unmanaged
	// settings that do not name one.
	Upstream *Upstream `json:"upstream,omitempty"`
	// TTL is Proxy's cache lifetime, printed the way Go prints durations ("72h0m0s").
	TTL string `json:"ttl,omitempty"`
	// ImagesBase is where image references point (the core's SettingsView.imagesBase), set by
	// LoadSettings; "" if the mode has none.
	ImagesBase string `json:"-"`
	// ImagesRepo is the upstream's normalized imagesRepo (host[:port]/path), set by
	// LoadSettings; "" without an upstream.
	ImagesRepo string `json:"-"`
}

// settingsView is the core's SettingsView: the settings and what the core derives from them.
type settingsView struct {
	Settings        *Settings `json:"settings"`
	ImagesBase      *string   `json:"imagesBase"`
	ImagesRepo      *string   `json:"imagesRepo"`
	UpstreamAddress *string   `json:"upstreamAddress"`
}

// Upstream is an upstream registry.
type Upstream struct {
	Host        string       `json:"host"`
	Port        int          `json:"port,omitempty"`
	Path        string       `json:"path,omitempty"`
	Scheme      string       `json:"scheme,omitempty"`
	CA          string       `json:"ca,omitempty"`
	Credentials *Credentials `json:"credentials,omitempty"`
	CheckMode   string       `json:"checkMode,omitempty"`
	// address is the core's upstreamAddress, set by LoadSettings.
	address string
}

// Address is host[:port], as the core computes it (set by LoadSettings; "" for an Upstream
// built by hand).
func (u *Upstream) Address() string {
	return u.address
}

// Credentials are a user name and password, or a license key. String and GoString redact them.
type Credentials struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	License  string `json:"license,omitempty"`
}

// String never shows the password or license key.
func (c Credentials) String() string {
	if c.License != "" {
		return "license <redacted>"
	}
	return c.Username + ":<redacted>"
}

// GoString never shows the password or license key.
func (c Credentials) GoString() string { return "registry.Credentials{" + c.String() + "}" }

func (s *Settings) json() (string, error) {
	if s == nil {
		return "", nil
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// LoadOptions say how to read settings.
type LoadOptions struct {
	// Bootstrap applies the bootstrap rules: only Direct and the Unmanaged forms are allowed.
	Bootstrap bool `json:"bootstrap"`
}

// LoadSettings reads a ModuleConfig `deckhouse` and/or an InitConfiguration (YAML or JSON) and
// validates its registry settings. Settings that break the rules return a *ValidationError
// with every problem (errors.Is(err, ErrInvalidSettings)); unusable input returns
// ErrInvalidDocument.
func LoadSettings(input []byte, opts LoadOptions) (*Settings, error) {
	raw, err := loadSettingsJSON(input, opts)
	if err != nil {
		return nil, err
	}
	var v settingsView
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, err
	}
	if v.Settings == nil {
		return nil, &Error{Status: StatusPanic, Message: "the library returned no settings"}
	}
	s := v.Settings
	s.ImagesBase = deref(v.ImagesBase)
	s.ImagesRepo = deref(v.ImagesRepo)
	if s.Upstream != nil {
		s.Upstream.address = deref(v.UpstreamAddress)
	}
	return s, nil
}

// loadSettingsJSON returns the library's SettingsView JSON.
func loadSettingsJSON(input []byte, opts LoadOptions) (string, error) {
	o, _ := json.Marshal(opts)
	copt := C.CString(string(o))
	defer freeC(copt)
	var out *C.char
	var cerr *C.dr_error
	st := C.dr_load_settings(bytesPtr(input), C.size_t(len(input)), copt, &out, &cerr)
	runtime.KeepAlive(input)
	if err := takeError(st, cerr); err != nil {
		return "", err
	}
	return takeString(out), nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Reason is why a switch is refused.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Decision says whether a switch is allowed and how it proceeds, or why not.
type Decision struct {
	Allowed bool `json:"allowed"`
	From    Mode `json:"from,omitempty"`
	To      Mode `json:"to,omitempty"`
	// Stages are the orchestrator's conditions for the target mode, in order (allowed only).
	Stages []string `json:"stages,omitempty"`
	// Restarts are what restarts: Deckhouse, AllPlatformComponents, ContainerdV1 (allowed only).
	Restarts []string `json:"restarts,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Reasons and Route are set when refused: every reason, and the shortest legal route.
	Reasons []Reason `json:"reasons,omitempty"`
	Route   []Mode   `json:"route,omitempty"`
}

// Plan decides a switch from current to desired settings. facts is a cluster facts document
// (YAML or JSON, see the repository README); nil means a bootstrapped static cluster with one
// containerd master. A refusal is a Decision with Allowed false, not an error.
func Plan(current, desired *Settings, facts []byte) (*Decision, error) {
	if current == nil || desired == nil {
		return nil, &Error{Status: StatusInvalidArgument, Message: "current and desired settings are required"}
	}
	cj, err := current.json()
	if err != nil {
		return nil, err
	}
	dj, err := desired.json()
	if err != nil {
		return nil, err
	}
	args, free, err := cstrs(cj, dj)
	if err != nil {
		return nil, err
	}
	defer free()
	cf, err := optBytes(facts)
	if err != nil {
		return nil, err
	}
	defer freeC(cf)
	var out *C.char
	var cerr *C.dr_error
	st := C.dr_plan(args[0], args[1], cf, &out, &cerr)
	if err := takeError(st, cerr); err != nil {
		return nil, err
	}
	var d Decision
	if err := json.Unmarshal([]byte(takeString(out)), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func optBytes(b []byte) (*C.char, error) {
	if b == nil {
		return nil, nil
	}
	return cstr(string(b))
}

// RenderOptions say which containerd reads the files. Zero values take the library's
// defaults: containerd "v1", its default release line, the "deckhouse" dialect,
// /etc/containerd/registry.d.
type RenderOptions struct {
	// Containerd is "v1" or "v2".
	Containerd string `json:"containerd,omitempty"`
	// Version is the release line, e.g. "1.7" or "2.1".
	Version string `json:"version,omitempty"`
	// Dialect is "deckhouse" or "upstream" (stock containerd).
	Dialect         string `json:"dialect,omitempty"`
	HTTPTLSFallback bool   `json:"httpTlsFallback,omitempty"`
	ConfigPath      string `json:"configPath,omitempty"`
	// SwitchCheck is "enforce" (default: a render with previous settings is refused with
	// ErrTransitionRefused when the switch from them is refused) or "skip".
	SwitchCheck string `json:"switchCheck,omitempty"`
}

// RenderedFile is one file for a node, at its absolute node path.
type RenderedFile struct {
	Path     string `json:"path"`
	Contents string `json:"contents"`
	// Mode is the octal permission, e.g. "0600" for files holding credentials.
	Mode string `json:"mode"`
}

// Rendered is the files a node's containerd reads.
type Rendered struct {
	// Version is the node configuration's version hash.
	Version    string         `json:"version"`
	ConfigPath string         `json:"configPath"`
	Files      []RenderedFile `json:"files"`
	HostDirs   []string       `json:"hostDirs"`
	Warnings   []string       `json:"warnings"`
}

// MarshalJSON writes empty lists rather than null, as the library expects.
func (r *Rendered) MarshalJSON() ([]byte, error) {
	type plain Rendered
	p := plain(*r)
	if p.Files == nil {
		p.Files = []RenderedFile{}
	}
	p.HostDirs = nonNil(p.HostDirs)
	p.Warnings = nonNil(p.Warnings)
	return json.Marshal(&p)
}

// File returns the file at a node path, or nil.
func (r *Rendered) File(path string) *RenderedFile {
	for i := range r.Files {
		if r.Files[i].Path == path {
			return &r.Files[i]
		}
	}
	return nil
}

// Render renders the containerd configuration for desired settings; with previous settings
// (may be nil) it is the transition phase, refused (ErrTransitionRefused) when the switch from
// previous is refused unless opts.SwitchCheck is "skip". facts may be nil (see Plan).
func Render(desired, previous *Settings, facts []byte, opts RenderOptions) (*Rendered, error) {
	var out *C.char
	o, _ := json.Marshal(opts)
	err := withSettings(desired, previous, facts, func(d, p, f *C.char) (C.dr_status, *C.dr_error) {
		co := C.CString(string(o))
		defer freeC(co)
		var cerr *C.dr_error
		st := C.dr_render(d, p, f, co, &out, &cerr)
		return st, cerr
	})
	if err != nil {
		return nil, err
	}
	var r Rendered
	if err := json.Unmarshal([]byte(takeString(out)), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// NodeConfig is the node configuration model and its version hash.
type NodeConfig struct {
	Version string `json:"version"`
	// Config is the model as JSON (mode, transition, imagesBase, hosts with their mirrors).
	Config json.RawMessage `json:"config"`
}

// BuildNodeConfig builds the node configuration model (see Render for the arguments).
func BuildNodeConfig(desired, previous *Settings, facts []byte) (*NodeConfig, error) {
	var out *C.char
	err := withSettings(desired, previous, facts, func(d, p, f *C.char) (C.dr_status, *C.dr_error) {
		var cerr *C.dr_error
		st := C.dr_node_config(d, p, f, &out, &cerr)
		return st, cerr
	})
	if err != nil {
		return nil, err
	}
	var n NodeConfig
	if err := json.Unmarshal([]byte(takeString(out)), &n); err != nil {
		return nil, err
	}
	return &n, nil
}

func withSettings(desired, previous *Settings, facts []byte, call func(d, p, f *C.char) (C.dr_status, *C.dr_error)) error {
	if desired == nil {
		return &Error{Status: StatusInvalidArgument, Message: "desired settings are required"}
	}
	dj, err := desired.json()
	if err != nil {
		return err
	}
	pj, err := previous.json()
	if err != nil {
		return err
	}
	d, err := cstr(dj)
	if err != nil {
		return err
	}
	defer freeC(d)
	p, err := optCstr(pj)
	if err != nil {
		return err
	}
	defer freeC(p)
	f, err := optBytes(facts)
	if err != nil {
		return err
	}
	defer freeC(f)
	return takeError(call(d, p, f))
}

// ApplyReport says what Apply did.
type ApplyReport struct {
	Changed           []string `json:"changed"`
	Removed           []string `json:"removed"`
	RestartContainerd bool     `json:"restartContainerd"`
	// Warnings name what was left alone: state file entries that are not host[:port] folder
	// names, a state file that cannot be read.
	Warnings []string `json:"warnings"`
}

// Apply writes rendered files under root (the node's "/" or a test folder): only what
// changed, atomically, removing host folders written before and not now. A set with a path
// the renderer does not write, a bad host folder name, or a symbolic link on the way under
// root is refused before anything is written (ErrApplyRefused, naming the path).
func Apply(r *Rendered, root string) (*ApplyReport, error) {
	if r == nil {
		return nil, &Error{Status: StatusInvalidArgument, Message: "rendered files are required"}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	args, free, err := cstrs(string(raw), root)
	if err != nil {
		return nil, err
	}
	defer free()
	var out *C.char
	var cerr *C.dr_error
	if err := takeError(C.dr_apply(args[0], args[1], &out, &cerr), cerr); err != nil {
		return nil, err
	}
	var rep ApplyReport
	return &rep, json.Unmarshal([]byte(takeString(out)), &rep)
}

// PreflightFinding is a registry section found in a containerd drop-in file.
type PreflightFinding struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Key  string `json:"key"`
}

// UnreadableFile is a drop-in file preflight could not read (it counts as custom configuration).
type UnreadableFile struct {
	File    string `json:"file"`
	Message string `json:"message"`
}

// PreflightReport lists user registry configuration in conf.d / conf2.d (the core's
// PreflightView).
type PreflightReport struct {
	Findings   []PreflightFinding `json:"findings"`
	Unreadable []UnreadableFile   `json:"unreadable"`
	// HasCustomRegistryConfig is the core's verdict: the node has registry sections (or
	// unreadable files that could hide some) to migrate before the first switch.
	HasCustomRegistryConfig bool `json:"hasCustomRegistryConfig"`
}

// Preflight scans a copy of a node's /etc/containerd for registry sections in conf.d / conf2.d.
func Preflight(etcContainerd string) (*PreflightReport, error) {
	d, err := cstr(etcContainerd)
	if err != nil {
		return nil, err
	}
	defer freeC(d)
	var out *C.char
	var cerr *C.dr_error
	if err := takeError(C.dr_preflight(d, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	var rep PreflightReport
	return &rep, json.Unmarshal([]byte(takeString(out)), &rep)
}

// CleanupPlan says which host folders to remove.
type CleanupPlan struct {
	Remove  []string `json:"remove"`
	Ignored []string `json:"ignored"`
}

// StaleHostDirs returns the host folders listed before (previous) and not written now (current);
// names that are not plain folder names are ignored.
func StaleHostDirs(previous, current []string) (*CleanupPlan, error) {
	pj, _ := json.Marshal(nonNil(previous))
	cj, _ := json.Marshal(nonNil(current))
	args, free, err := cstrs(string(pj), string(cj))
	if err != nil {
		return nil, err
	}
	defer free()
	var out *C.char
	var cerr *C.dr_error
	if err := takeError(C.dr_stale_host_dirs(args[0], args[1], &out, &cerr), cerr); err != nil {
		return nil, err
	}
	var p CleanupPlan
	return &p, json.Unmarshal([]byte(takeString(out)), &p)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MergeConfig merges the rendered config.toml part (deckhouse.d/registry.toml) into a node's
// main config.toml, as containerd 1.x needs it: 1.x loads an imports file by replacing each
// plugin table it names. The part's keys win; every other key of main, and main's comments and
// order, stay. A file that is not TOML, or two files with different versions, gives
// ErrInvalidDocument with a message naming which. On containerd 2.x, imports merge by
// themselves.
func MergeConfig(main, part string) (string, error) {
	args, free, err := cstrs(main, part)
	if err != nil {
		return "", err
	}
	defer free()
	var out *C.char
	var cerr *C.dr_error
	if err := takeError(C.dr_merge_config(args[0], args[1], &out, &cerr), cerr); err != nil {
		return "", err
	}
	return takeString(out), nil
}
