package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The expectations below come from the rules of DOMAIN.md §6–§11 and the seed, not from the
// library's output: the Direct pipeline starts with the image checker; the first stage not
// ready is False/Processing and Ready is False with "Transitioning to <Mode>"; the mode
// changes only when the pipeline is done; the managed modes get a CA (ECDSA P-256, CN
// registry-ca, 10 years), a token certificate (RSA 2048, signed by the CA, ending an hour
// before it) and a 25-character HTTP secret; Local⇄Proxy only through Direct or Unmanaged.

var (
	reconcileNow = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	seven        = uint64(7)
	testOptions  = ReconcileOptions{Now: reconcileNow, Seed: &seven}
)

func directSettings() *Settings {
	return &Settings{Mode: ModeDirect, Upstream: &Upstream{Host: "registry.example.com", Path: "/deckhouse/ee", Scheme: "HTTPS"}}
}

func parseCert(t *testing.T, pemText string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %.40q", pemText)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReconcileDirectFromNoState(t *testing.T) {
	step, err := Reconcile(context.Background(), nil, Inputs{Settings: directSettings()}, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if step.Ready || step.Message != "Transitioning to Direct" {
		t.Errorf("ready %v, message %q", step.Ready, step.Message)
	}
	want := []Condition{
		{Type: "RegistryContainsRequiredImages", Status: ConditionFalse, Reason: ReasonProcessing, Message: "Initializing", LastTransitionTime: reconcileNow},
		{Type: ConditionReady, Status: ConditionFalse, Reason: ReasonProcessing, Message: "Transitioning to Direct", LastTransitionTime: reconcileNow},
	}
	if !reflect.DeepEqual(step.State.Conditions, want) {
		t.Errorf("conditions\n got %+v\nwant %+v", step.State.Conditions, want)
	}
	if step.State.Mode != ModeUnmanaged || step.State.TargetMode != ModeDirect {
		t.Errorf("mode %q target %q: no state restores Unmanaged, and the mode waits for the pipeline", step.State.Mode, step.State.TargetMode)
	}

	// The PKI, checked by Go's own x509 parser.
	pki := step.State.PKI
	if pki.CA == nil || pki.Token == nil {
		t.Fatalf("a managed mode needs the CA and the token certificate: %+v", pki)
	}
	ca, token := parseCert(t, pki.CA.Cert), parseCert(t, pki.Token.Cert)
	if ca.Subject.CommonName != "registry-ca" || !ca.IsCA {
		t.Errorf("CA subject %q, IsCA %v", ca.Subject.CommonName, ca.IsCA)
	}
	if k, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	if got := ca.NotAfter.Sub(ca.NotBefore); got != 10*365*24*time.Hour {
		t.Errorf("CA lifetime %v, want 10 years of 365 days", got)
	}
	if k, ok := token.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("token key %T, want RSA 2048", token.PublicKey)
	}
	if err := token.CheckSignatureFrom(ca); err != nil {
		t.Errorf("token certificate not signed by the CA: %v", err)
	}
	if got := ca.NotAfter.Sub(token.NotAfter); got != time.Hour {
		t.Errorf("token ends %v before the CA, want an hour", got)
	}
	if h := step.State.Secrets.HTTP.Reveal(); len(h) != 25 || strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		t.Errorf("HTTP secret %d characters, want 25 of [a-zA-Z0-9]", len(h))
	}

	// Outputs: the PKI is written, Direct has no users, the checker gets its parameters for
	// the Direct upstream, nothing reached the nodes or deckhouse-registry yet.
	o := step.Outputs
	if o.PKI.Action != ActionWrite || o.PKI.Value == nil || o.PKI.Value.CA.Cert != pki.CA.Cert {
		t.Errorf("pki output %+v", o.PKI.Action)
	}
	for _, name := range []string{"ro", "rw", "mirror-puller", "mirror-pusher"} {
		if o.Users[name].Action != ActionDelete {
			t.Errorf("user %s: %q, want delete (Direct has no users)", name, o.Users[name].Action)
		}
	}
	if o.Checker.Action != ActionWrite || o.Checker.Value == nil {
		t.Fatalf("checker output %q, want write", o.Checker.Action)
	}
	reg, ok := o.Checker.Value.Registries["registry.example.com"]
	if !ok || reg.Address != "registry.example.com/deckhouse/ee" || reg.Scheme != "HTTPS" || o.Checker.Value.CheckMode != "Default" {
		t.Errorf("checker registries %+v, check mode %q", o.Checker.Value.Registries, o.Checker.Value.CheckMode)
	}
	if o.BashibleConfig.Action != ActionKeep || o.DeckhouseRegistry.Action != ActionKeep {
		t.Errorf("bashible %q, deckhouse-registry %q: both wait for the checker", o.BashibleConfig.Action, o.DeckhouseRegistry.Action)
	}
	if o.RegistryService != ServiceDisabled || o.IngressEnabled {
		t.Errorf("service %q, ingress %v", o.RegistryService, o.IngressEnabled)
	}
}

func TestReconcileIsDeterministicAndKeepsItsState(t *testing.T) {
	ctx := context.Background()
	inputs := Inputs{Settings: directSettings()}
	first, err := Reconcile(ctx, nil, inputs, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Reconcile(ctx, nil, inputs, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Error("the same inputs, seed and clock gave two different steps")
	}
	// The state fed back, an hour later, another seed: nothing observed changed, so the step is
	// the same (the PKI and secret are kept, condition times stay), whatever the seed.
	later := uint64(99)
	second, err := Reconcile(ctx, &first.State, inputs, ReconcileOptions{Now: reconcileNow.Add(time.Hour), Seed: &later})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) {
		a, _ := json.Marshal(first.State)
		b, _ := json.Marshal(second.State)
		t.Errorf("a step from its own state with unchanged inputs changed:\n%s\n%s", a, b)
	}
}

func TestReconcileRefusesLocalToProxyWithItsRoute(t *testing.T) {
	local := &State{Mode: ModeLocal, Bashible: BashibleState{ActualParams: &Settings{Mode: ModeLocal}}}
	proxy := &Settings{Mode: ModeProxy, TTL: "72h0m0s", Upstream: &Upstream{Host: "registry.example.com", Path: "/deckhouse/ee", Scheme: "HTTPS"}}
	step, err := Reconcile(context.Background(), local, Inputs{Settings: proxy}, testOptions)
	if err != nil {
		t.Fatalf("a refused switch is a step, not an error: %v", err)
	}
	c := step.Condition(ConditionErrTransitionNotSupported)
	if c == nil {
		t.Fatalf("no %s condition: %+v", ConditionErrTransitionNotSupported, step.State.Conditions)
	}
	if c.Status != ConditionTrue || c.Reason != ReasonError ||
		!strings.HasPrefix(c.Message, "mode transition from Local to Proxy not supported") ||
		!strings.HasSuffix(c.Message, "route: Local → Direct → Proxy") {
		t.Errorf("refusal %+v", *c)
	}
	if step.Ready || step.Message != "Transition to Proxy is not supported" || step.State.Mode != ModeLocal {
		t.Errorf("ready %v, message %q, mode %q", step.Ready, step.Message, step.State.Mode)
	}
}

func TestReconcileSecretsAreRedactedInFmt(t *testing.T) {
	step, err := Reconcile(context.Background(), nil, Inputs{Settings: directSettings()}, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	key := step.State.PKI.CA.Key.Reveal()
	http := step.State.Secrets.HTTP.Reveal()
	if !strings.Contains(step.RegistryState.State.Reveal(), `"http":"`+http+`"`) {
		t.Fatal("registry-state's state key holds the whole state, secrets included")
	}
	if !strings.Contains(key, "PRIVATE KEY") || http == "" {
		t.Fatalf("the secrets are there to find: key %d bytes, http %d", len(key), len(http))
	}
	user := User{Name: "ro", Password: NewSecret("hunter2hunter2ab"), PasswordHash: NewSecret("$2a$10$abcdefghijklmnopqrstuv")}
	rs := RegistrySecret{Address: "r.example", DockerConfigJSON: NewSecret(`{"auths":{"r.example":{"auth":"dTpw"}}}`)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, v := range []any{step, &step, step.State, step.RegistryState, step.Outputs.PKI, *step.State.PKI.CA, step.State.PKI.CA, user, &user, rs, step.State.Secrets.HTTP} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{key, "PRIVATE KEY", http, "hunter2hunter2ab", "$2a$10$", "dTpw"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s of %T shows a secret (%.12q…)", verb, v, secret)
				}
			}
		}
	}
	// JSON keeps the values: that is how they reach the library and the cluster.
	b, err := json.Marshal(user)
	if err != nil || !strings.Contains(string(b), `"password":"hunter2hunter2ab"`) || !strings.Contains(string(b), `"password_hash":"$2a$10$`) {
		t.Errorf("JSON %s, %v", b, err)
	}
	var back User
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, user) || !back.Password.Equal(user.Password) {
		t.Errorf("round trip %v", err)
	}
}

func TestReconcileErrorsMapToSentinels(t *testing.T) {
	ctx := context.Background()
	_, err := Reconcile(ctx, nil, Inputs{Settings: &Settings{Mode: "Fancy"}}, testOptions)
	var e *Error
	if !errors.Is(err, ErrInvalidArgument) || !errors.As(err, &e) || e.Status != StatusInvalidArgument ||
		!strings.Contains(e.Message, "inputs_json") {
		t.Errorf("unknown mode: %v", err)
	}
	_, err = Reconcile(ctx, &State{RegistryService: "Elsewhere"}, Inputs{}, testOptions)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "state_json") {
		t.Errorf("unknown service mode: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Reconcile(cancelled, nil, Inputs{Settings: directSettings()}, testOptions); !errors.Is(err, context.Canceled) {
		t.Errorf("a done context: %v, want context.Canceled", err)
	}
}

func TestReconcileWithoutOptionsUsesTheClockAndTheOSRandomSource(t *testing.T) {
	ctx := context.Background()
	before := time.Now().UTC().Truncate(time.Second)
	a, err := Reconcile(ctx, nil, Inputs{Settings: directSettings()}, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Reconcile(ctx, nil, Inputs{Settings: directSettings()}, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.State.Secrets.HTTP.Equal(b.State.Secrets.HTTP) || a.State.PKI.CA.Key.Equal(b.State.PKI.CA.Key) {
		t.Error("two unseeded steps generated the same secrets")
	}
	at := a.State.Conditions[0].LastTransitionTime
	if at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("condition time %v, want the system clock (%v)", at, before)
	}
}

// BenchmarkReconcileLocalSteady is a steady-state step of a Local cluster with its four users,
// JSON both ways across the C ABI. The core remembers the bcrypt pairs and certificates it
// checked in earlier calls of the process, so a steady step verifies none of the four hashes
// (cost 10, some 60 ms each) again.
func BenchmarkReconcileLocalSteady(b *testing.B) {
	ctx := context.Background()
	inputs := Inputs{Settings: &Settings{Mode: ModeLocal}}
	first, err := Reconcile(ctx, nil, inputs, testOptions)
	if err != nil {
		b.Fatal(err)
	}
	if first.State.Users.MirrorPusher == nil {
		b.Fatal("a Local target has its four users from the first step")
	}
	for b.Loop() {
		if _, err := Reconcile(ctx, &first.State, inputs, testOptions); err != nil {
			b.Fatal(err)
		}
	}
}
