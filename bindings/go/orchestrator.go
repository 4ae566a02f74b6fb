package registry

/*
#include <stdlib.h>
#include "deckhouse_registry.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// This file is the orchestrator (the core's registry_core::orchestrator, DOMAIN.md §6–§11):
// Reconcile runs one step of the registry module's automatic mode switching, and the types
// below are the state, the observations and the step it reads and returns, with the core's
// JSON names (the State keeps the snake_case names of the real registry-state secret).

// Secret is a secret string: a password, a private key, a bcrypt hash, a docker config JSON.
// fmt never shows it, whatever the verb: Format prints <redacted>, and where fmt does not call
// methods (a verb that does not fit a pointer field, such as %s of a struct holding a *CertKey)
// it finds only a pointer. encoding/json writes the real value, because that is how it
// travels to the library and into Kubernetes secrets. The zero Secret is empty. Compare two
// with Equal (== compares where they are stored).
type Secret struct {
	value *string
}

const redacted = "<redacted>"

// NewSecret wraps a secret value.
func NewSecret(value string) Secret { return Secret{value: &value} }

// Reveal is the secret value itself; call it only where the value is really needed.
func (s Secret) Reveal() string {
	if s.value == nil {
		return ""
	}
	return *s.value
}

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return s.Reveal() == o.Reveal() }

// IsZero reports whether the secret is empty (for the omitzero JSON option).
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String never shows the value.
func (s Secret) String() string { return redacted }

// GoString never shows the value.
func (s Secret) GoString() string { return "registry.Secret{" + redacted + "}" }

// Format never shows the value, whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON writes the value as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.Reveal()) }

// UnmarshalJSON reads a JSON string.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = NewSecret(v)
	return nil
}

// ConditionStatus is "True" or "False".
type ConditionStatus string

// The condition statuses.
const (
	ConditionTrue  ConditionStatus = "True"
	ConditionFalse ConditionStatus = "False"
)

// ConditionReason says why a condition has its status.
type ConditionReason string

// The condition reasons.
const (
	ReasonReady      ConditionReason = "Ready"
	ReasonProcessing ConditionReason = "Processing"
	ReasonError      ConditionReason = "Error"
)

// Condition types the module reports besides the stages of a pipeline (whose types are the
// stage names, as Decision.Stages lists them).
const (
	ConditionReady = "Ready"
	// ConditionErrTransitionNotSupported is set (True, reason Error) on a refused switch; its
	// message gives the reasons and the route.
	ConditionErrTransitionNotSupported = "ErrTransitionNotSupported"
)

// Condition is one condition, as metav1.Condition writes it.
type Condition struct {
	Type    string          `json:"type"`
	Status  ConditionStatus `json:"status"`
	Reason  ConditionReason `json:"reason"`
	Message string          `json:"message"`
	// LastTransitionTime is when the status last changed (UTC, whole seconds).
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// ServiceMode is what the registry Service points at.
type ServiceMode string

// The Service modes.
const (
	ServiceDisabled       ServiceMode = "Disabled"
	ServiceInClusterProxy ServiceMode = "InClusterProxy"
	ServiceNodeServices   ServiceMode = "NodeServices"
)

// CertKey is a certificate and its private key, both PEM.
type CertKey struct {
	Cert string `json:"cert"`
	Key  Secret `json:"key"`
}

// PKI is the module's PKI: the CA (ECDSA P-256, CN registry-ca) and the token-signing
// certificate (RSA 2048, signed by the CA).
type PKI struct {
	CA    *CertKey `json:"ca,omitempty"`
	Token *CertKey `json:"token,omitempty"`
}

// Secrets are the generated secrets.
type Secrets struct {
	// HTTP is the registry's HTTP secret (25 characters of [a-zA-Z0-9]).
	HTTP Secret `json:"http,omitzero"`
}

// User is a registry user.
type User struct {
	Name         string `json:"name"`
	Password     Secret `json:"password"`
	PasswordHash Secret `json:"password_hash"`
}

// Users are the module's registry users.
type Users struct {
	RO           *User `json:"ro,omitempty"`
	RW           *User `json:"rw,omitempty"`
	MirrorPuller *User `json:"mirror_puller,omitempty"`
	MirrorPusher *User `json:"mirror_pusher,omitempty"`
}

// Versioned is a configuration and its version (the hash the running pods report).
type Versioned[T any] struct {
	Version string `json:"version"`
	Config  T      `json:"config"`
}

// RegistrydUpstream is the upstream of a Proxy registryd.
type RegistrydUpstream struct {
	URL          string `json:"url"`
	CA           string `json:"ca,omitempty"`
	User         string `json:"user,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
	// TTL is how long cached content lives after its last use, as a Go duration ("24h").
	TTL string `json:"ttl,omitempty"`
}

// RegistrydConfig is what `registryd --config FILE` reads: one key per command-line flag.
type RegistrydConfig struct {
	Root             string             `json:"root"`
	Listen           string             `json:"listen"`
	TLSCert          string             `json:"tlsCert,omitempty"`
	TLSKey           string             `json:"tlsKey,omitempty"`
	Htpasswd         string             `json:"htpasswd,omitempty"`
	Writers          []string           `json:"writers,omitempty"`
	Namespace        string             `json:"namespace,omitempty"`
	Upstream         *RegistrydUpstream `json:"upstream,omitempty"`
	Peers            []string           `json:"peers,omitempty"`
	PeerUser         string             `json:"peerUser,omitempty"`
	PeerPasswordFile string             `json:"peerPasswordFile,omitempty"`
	PeerCA           string             `json:"peerCa,omitempty"`
	// The limits below are registryd's file-only settings, nil for its defaults. They are kept
	// as the integers the file holds (seconds, bytes), since this is the file's content.
	HeaderTimeoutSeconds *uint64 `json:"headerTimeoutSeconds,omitempty"`
	BodyTimeoutSeconds   *uint64 `json:"bodyTimeoutSeconds,omitempty"`
	MaxConnections       *uint64 `json:"maxConnections,omitempty"`
	MaxManifestBytes     *uint64 `json:"maxManifestBytes,omitempty"`
}

// BundleFile is one file of a bundle.
type BundleFile struct {
	Contents Secret `json:"contents"`
	// Mode is the permission, four octal digits ("0600").
	Mode string `json:"mode"`
}

// RegistrydBundle is a registryd configuration and every file it names, by absolute path
// (the configuration itself is one of them).
type RegistrydBundle struct {
	Config RegistrydConfig       `json:"config"`
	Files  map[string]BundleFile `json:"files"`
}

// InClusterProxyState is the in-cluster proxy (Direct).
type InClusterProxyState struct {
	Config Versioned[RegistrydBundle] `json:"config"`
}

// NodeServicesState is the registry on the masters (Proxy, Local).
type NodeServicesState struct {
	Run bool `json:"run"`
	// Nodes is each master's configuration, by node name.
	Nodes map[string]Versioned[RegistrydBundle] `json:"nodes,omitempty"`
}

// MirrorAuth are the credentials a mirror is pulled with.
type MirrorAuth struct {
	Username string `json:"username"`
	Password Secret `json:"password"`
}

// Rewrite is a rewrite of the repository path, applied by Deckhouse's containerd.
type Rewrite struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Mirror is one mirror of a registry host.
type Mirror struct {
	Host string `json:"host"`
	// Scheme is "HTTP" or "HTTPS".
	Scheme   string      `json:"scheme"`
	CA       string      `json:"ca,omitempty"`
	Auth     *MirrorAuth `json:"auth,omitempty"`
	Rewrites []Rewrite   `json:"rewrites,omitempty"`
}

// NodeConfigModel is the node configuration model (the core's containerd::NodeConfig; the
// Go NodeConfig carries it as raw JSON with its version).
type NodeConfigModel struct {
	Mode       Mode   `json:"mode"`
	Transition bool   `json:"transition"`
	ImagesBase string `json:"imagesBase"`
	// ProxyEndpoints are the masters' registry endpoints behind the node load balancer.
	ProxyEndpoints []string `json:"proxyEndpoints,omitempty"`
	// Hosts are, per registry host, its mirrors in the order tried.
	Hosts map[string][]Mirror `json:"hosts"`
}

// BashibleConfig is the registry-bashible-config secret's content.
type BashibleConfig struct {
	// Version is what nodes report in registry.deckhouse.io/version once they apply it.
	Version string          `json:"version"`
	Config  NodeConfigModel `json:"config"`
}

// BashibleState is the node configuration side of the state.
type BashibleState struct {
	// UnmanagedParams is the upstream to return to in Unmanaged.
	UnmanagedParams *Upstream `json:"unmanaged_params,omitempty"`
	// ActualParams are the settings every node has in its final configuration.
	ActualParams *Settings `json:"actual_params,omitempty"`
	// Config is what registry-bashible-config holds, if anything.
	Config *BashibleConfig `json:"config,omitempty"`
}

// State is the orchestrator's persisted state: the registry-state secret's state document.
// Persist Step.State after every step and pass it to the next one; nil is "no state yet".
type State struct {
	// Mode is the mode the cluster is in ("" before the first step: restored as Unmanaged).
	Mode Mode `json:"mode,omitempty"`
	// TargetMode is the mode being switched to.
	TargetMode      Mode                 `json:"target_mode,omitempty"`
	PKI             PKI                  `json:"pki"`
	Secrets         Secrets              `json:"secrets"`
	Users           Users                `json:"users"`
	InClusterProxy  *InClusterProxyState `json:"in_cluster_proxy,omitempty"`
	NodeServices    NodeServicesState    `json:"node_services"`
	IngressEnabled  bool                 `json:"ingress_enabled"`
	RegistryService ServiceMode          `json:"registry_service,omitempty"`
	Bashible        BashibleState        `json:"bashible"`
	Conditions      []Condition          `json:"conditions,omitempty"`
}

// ReadOnlyUser is the module's read-only registry user.
type ReadOnlyUser struct {
	Name     string `json:"name"`
	Password Secret `json:"password"`
}

// NodeFacts is one node of the cluster.
type NodeFacts struct {
	Name string `json:"name"`
	// Role is "master" (the default) or "worker".
	Role string `json:"role,omitempty"`
	// IP is the node's internal IP address, when known.
	IP string `json:"ip,omitempty"`
	// CRI is "Containerd" (the default), "ContainerdV2", "Docker" or "NotManaged".
	CRI                  string `json:"cri,omitempty"`
	CustomRegistryConfig bool   `json:"customRegistryConfig"`
}

// ClusterFacts is what the switch rules need to know about the cluster. Every field is
// sent as it is (a zero ClusterFacts is a cluster that has not finished bootstrap); leave
// Inputs.Cluster nil for the core's default, a bootstrapped static cluster with one master.
type ClusterFacts struct {
	// ClusterType is "Static" (the default) or "Cloud".
	ClusterType       string        `json:"clusterType,omitempty"`
	Bootstrapped      bool          `json:"bootstrapped"`
	ManagedKubernetes bool          `json:"managedKubernetes"`
	Nodes             []NodeFacts   `json:"nodes,omitempty"`
	ModuleCA          string        `json:"moduleCA,omitempty"`
	ReadOnlyUser      *ReadOnlyUser `json:"readOnlyUser,omitempty"`
}

// NodeStatus is a node's feedback to the module.
type NodeStatus struct {
	Ready bool `json:"ready"`
	// RegistryVersion is the registry.deckhouse.io/version annotation.
	RegistryVersion string `json:"registryVersion,omitempty"`
	// ContainerdConfigRegistry is the node.deckhouse.io/containerd-config-registry label.
	ContainerdConfigRegistry string `json:"containerdConfigRegistry,omitempty"`
}

// PodStatus is a registry pod (node services on a master, or the in-cluster proxy).
type PodStatus struct {
	Ready         bool   `json:"ready"`
	ConfigVersion string `json:"configVersion"`
}

// CheckerStatus is the image checker's status.
type CheckerStatus struct {
	// Version is the CheckerParams version the status is for.
	Version string `json:"version"`
	Ready   bool   `json:"ready"`
	Message string `json:"message"`
}

// LeaderPod is the deckhouse leader pod.
type LeaderPod struct {
	Ready bool `json:"ready"`
	// RegistryVersion is its checksum/registry-version annotation.
	RegistryVersion string `json:"registryVersion,omitempty"`
}

// InitSecret is the registry-init secret dhctl writes at bootstrap.
type InitSecret struct {
	CA     *CertKey `json:"ca,omitempty"`
	ROUser *User    `json:"ro_user,omitempty"`
	RWUser *User    `json:"rw_user,omitempty"`
}

// RegistrySecret is the deckhouse-registry secret's keys.
type RegistrySecret struct {
	Address string `json:"address"`
	Path    string `json:"path"`
	Scheme  string `json:"scheme"`
	CA      string `json:"ca,omitempty"`
	// DockerConfigJSON is .dockerconfigjson (it holds credentials).
	DockerConfigJSON Secret `json:".dockerconfigjson"`
}

// Inputs are everything one reconcile step observes.
type Inputs struct {
	// Settings are the desired settings (from registry-config); nil when that secret is
	// absent, and then the step does nothing.
	Settings *Settings `json:"settings,omitempty"`
	// Cluster is the cluster; nil for the core's default (see ClusterFacts).
	Cluster *ClusterFacts `json:"cluster,omitempty"`
	// Nodes is each node's feedback, by node name (a node missing here has sent none).
	Nodes                map[string]NodeStatus `json:"nodes,omitempty"`
	BashibleConfigExists bool                  `json:"bashibleConfigExists"`
	// NodeServicesPods is the node-services pod on each master, by node name.
	NodeServicesPods map[string]PodStatus `json:"nodeServicesPods,omitempty"`
	InClusterProxy   *PodStatus           `json:"inClusterProxy,omitempty"`
	Checker          *CheckerStatus       `json:"checker,omitempty"`
	DeckhouseLeader  *LeaderPod           `json:"deckhouseLeader,omitempty"`
	InitSecret       *InitSecret          `json:"initSecret,omitempty"`
	// RegistrySecret is the current deckhouse-registry secret.
	RegistrySecret *RegistrySecret `json:"registrySecret,omitempty"`
	// UserSecrets are the registry-user-<name> secrets, by user name.
	UserSecrets map[string]User `json:"userSecrets,omitempty"`
}

// Action is what to do with one object.
type Action string

// The actions.
const (
	// ActionKeep leaves the object as it is in the cluster.
	ActionKeep Action = "keep"
	// ActionWrite creates the object or patches it to Output.Value.
	ActionWrite Action = "write"
	// ActionDelete deletes the object if it exists.
	ActionDelete Action = "delete"
)

// Output is what to do with one object; Value is set for ActionWrite only.
type Output[T any] struct {
	Action Action `json:"action"`
	Value  *T     `json:"value,omitempty"`
}

// RegistrySecretOutput is the deckhouse-registry secret and the hash the deckhouse leader
// pod must report for it.
type RegistrySecretOutput struct {
	Secret RegistrySecret `json:"secret"`
	Hash   string         `json:"hash"`
}

// CheckerRegistry is one registry the image checker looks into.
type CheckerRegistry struct {
	Address  string `json:"address"`
	Scheme   string `json:"scheme"`
	CA       string `json:"ca,omitempty"`
	Username string `json:"username,omitempty"`
	Password Secret `json:"password"`
}

// CheckerParams is what the image checker checks, and the version its status must carry.
type CheckerParams struct {
	Registries map[string]CheckerRegistry `json:"registries"`
	// CheckMode is "Default" or "Relax".
	CheckMode string `json:"checkMode"`
	Version   string `json:"version"`
}

// Outputs are every object the module owns, and what to do with it.
type Outputs struct {
	BashibleConfig    Output[BashibleConfig]                        `json:"bashibleConfig"`
	DeckhouseRegistry Output[RegistrySecretOutput]                  `json:"deckhouseRegistry"`
	NodeServices      Output[map[string]Versioned[RegistrydBundle]] `json:"nodeServices"`
	InClusterProxy    Output[Versioned[RegistrydBundle]]            `json:"inClusterProxy"`
	PKI               Output[PKI]                                   `json:"pki"`
	// Users is registry-user-<name>, by user name.
	Users           map[string]Output[User] `json:"users"`
	Checker         Output[CheckerParams]   `json:"checker"`
	RegistryService ServiceMode             `json:"registryService"`
	IngressEnabled  bool                    `json:"ingressEnabled"`
}

// RegistryStateData is the registry-state secret's data keys, as the operator writes them.
type RegistryStateData struct {
	// State is the whole state as JSON (it holds keys and passwords).
	State Secret `json:"state"`
	// Hash is Step.ConfigHash.
	Hash string `json:"hash"`
	// Conditions are the conditions as a JSON list.
	Conditions string `json:"conditions"`
	Mode       string `json:"mode"`
	// TargetMode is the mode being switched to ("" when none).
	TargetMode string `json:"target_mode"`
}

// Step is one reconcile step's result.
type Step struct {
	// State is what to persist in registry-state (conditions included).
	State State `json:"state"`
	// Ready is the Ready condition's status, Message its message.
	Ready   bool    `json:"ready"`
	Message string  `json:"message"`
	Outputs Outputs `json:"outputs"`
	// ConfigHash is the sha256 (hex) of the inputs the step was computed from: registry-state's
	// hash key and the registry.deckhouse.io/config-hash annotation of every object written.
	ConfigHash string `json:"configHash"`
	// RegistryState is the registry-state secret's data, ready to write.
	RegistryState RegistryStateData `json:"registryState"`
}

// Condition returns the condition of a type, or nil.
func (s *Step) Condition(kind string) *Condition {
	for i := range s.State.Conditions {
		if s.State.Conditions[i].Type == kind {
			return &s.State.Conditions[i]
		}
	}
	return nil
}

// ReconcileOptions are the environment of a step. The zero value is production: the system
// clock and the operating system's CSPRNG.
type ReconcileOptions struct {
	// Now is the step's time (zero: the system clock); sent as UTC, to the second.
	Now time.Time
	// Seed, FOR DETERMINISTIC TESTS ONLY, seeds the random source: every key and password is
	// then reproducible by anyone who knows the seed. Leave it nil in production.
	Seed *uint64
}

// reconcileOptionsWire is the core's wire::ReconcileOptions.
type reconcileOptionsWire struct {
	Now  string  `json:"now,omitempty"`
	Seed *uint64 `json:"seed,omitempty"`
}

func (o ReconcileOptions) wire() reconcileOptionsWire {
	w := reconcileOptionsWire{Seed: o.Seed}
	if !o.Now.IsZero() {
		w.Now = o.Now.UTC().Format(time.RFC3339)
	}
	return w
}

// Reconcile runs one step of the registry module's orchestrator (DOMAIN.md §6–§11): from the
// persisted state (nil: none yet) and what the operator observed, the next state with its
// conditions, the Ready summary and every object to write, keep or delete. Call it on every
// reconcile of a controller loop and persist Step.State; a refused switch is a Step whose
// ConditionErrTransitionNotSupported condition gives the reasons and the route, not an error.
//
// The call is short and not interruptible: ctx is checked before it starts (ctx.Err() when
// already done). Errors: ErrInvalidArgument for a value the core does not accept (naming the
// field), the render sentinels when the node configuration cannot be built, ErrPkiFailed,
// ErrIO when the system clock or random source fails.
func Reconcile(ctx context.Context, state *State, inputs Inputs, opts ReconcileOptions) (Step, error) {
	if err := ctx.Err(); err != nil {
		return Step{}, err
	}
	stateJSON := ""
	if state != nil {
		b, err := json.Marshal(state)
		if err != nil {
			return Step{}, err
		}
		stateJSON = string(b)
	}
	inputsJSON, err := json.Marshal(inputs)
	if err != nil {
		return Step{}, err
	}
	optsJSON, err := json.Marshal(opts.wire())
	if err != nil {
		return Step{}, err
	}
	args, free, err := cstrs(string(inputsJSON), string(optsJSON))
	if err != nil {
		return Step{}, err
	}
	defer free()
	cs, err := optCstr(stateJSON)
	if err != nil {
		return Step{}, err
	}
	defer freeC(cs)
	var out *C.char
	var cerr *C.dr_error
	if err := takeError(C.dr_reconcile(cs, args[0], args[1], &out, &cerr), cerr); err != nil {
		return Step{}, err
	}
	var step Step
	if err := json.Unmarshal([]byte(takeString(out)), &step); err != nil {
		return Step{}, err
	}
	return step, nil
}
