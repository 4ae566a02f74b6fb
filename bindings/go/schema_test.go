package registry

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// schemaPath is the core's checked-in wire schema (registry-core/wire-schema.json), which
// `cargo test -p registry-core --test wire_schema` keeps equal to the core's types.
const schemaPath = "../../registry-core/wire-schema.json"

// mirrors ties each Go type that carries a core shape to that shape's name in the schema's
// $defs. Renaming a core field changes the schema, and this test fails until the Go type follows.
var mirrors = []struct {
	goType reflect.Type
	def    string
	// omitted are schema keys the Go type deliberately leaves out, each with the reason.
	omitted map[string]string
}{
	{reflect.TypeFor[Settings](), "RegistrySettings", nil},
	{reflect.TypeFor[Upstream](), "Upstream", nil},
	{reflect.TypeFor[Credentials](), "Credentials", nil},
	{reflect.TypeFor[settingsView](), "SettingsView", nil},
	{reflect.TypeFor[LoadOptions](), "LoadOptions", map[string]string{"limits": "input limits keep the core's defaults in Go"}},
	{reflect.TypeFor[Problem](), "Problem", nil},
	{reflect.TypeFor[Reason](), "Reason", nil},
	{reflect.TypeFor[Decision](), "Decision", nil},
	{reflect.TypeFor[RenderOptions](), "RenderOptions", nil},
	{reflect.TypeFor[RenderedFile](), "RenderedFile", nil},
	{reflect.TypeFor[Rendered](), "Rendered", nil},
	{reflect.TypeFor[ApplyReport](), "ApplyReport", nil},
	{reflect.TypeFor[PreflightFinding](), "PreflightFinding", nil},
	{reflect.TypeFor[UnreadableFile](), "UnreadableFile", nil},
	{reflect.TypeFor[PreflightReport](), "PreflightView", nil},
	{reflect.TypeFor[CleanupPlan](), "CleanupPlan", nil},
	{reflect.TypeFor[storeOptionsWire](), "StoreOptions", nil},
	{reflect.TypeFor[PutOutcome](), "PutOutcome", nil},
	{reflect.TypeFor[UploadInfo](), "UploadInfo", nil},
	{reflect.TypeFor[ImageCompleteness](), "ImageCompleteness", nil},
	{reflect.TypeFor[CompletenessReport](), "CompletenessReport", nil},
	{reflect.TypeFor[BlobStat](), "BlobStat", nil},
	{reflect.TypeFor[TagEntry](), "TagEntry", nil},
	{reflect.TypeFor[Progress](), "Progress", nil},
	{reflect.TypeFor[scrubOptionsWire](), "ScrubOptions", nil},
	{reflect.TypeFor[CorruptBlob](), "CorruptBlob", nil},
	{reflect.TypeFor[ForeignFile](), "ForeignFile", nil},
	{reflect.TypeFor[ScrubReport](), "ScrubView", nil},
	{reflect.TypeFor[GCOptions](), "GcOptions", nil},
	{reflect.TypeFor[GCReport](), "GcReport", nil},
	{reflect.TypeFor[importOptionsWire](), "ImportOptions", nil},
	{reflect.TypeFor[ImportReport](), "ImportReport", nil},
	{reflect.TypeFor[ExportOptions](), "ExportRequest", nil},
	{reflect.TypeFor[ExportReport](), "ExportReport", nil},
	{reflect.TypeFor[bundleOptionsWire](), "BundleOptions", nil},
	{reflect.TypeFor[LayoutReport](), "LayoutReport", nil},
	{reflect.TypeFor[SkippedEntry](), "SkippedEntry", nil},
	{reflect.TypeFor[TagMove](), "TagMove", nil},
	{reflect.TypeFor[BundleReport](), "BundleReport", nil},
	{reflect.TypeFor[BundleExportOptions](), "BundleExportOptions", nil},
	{reflect.TypeFor[BundleExportReport](), "BundleExportReport", nil},
	// The orchestrator (orchestrator.go).
	{reflect.TypeFor[State](), "State", nil},
	{reflect.TypeFor[PKI](), "Pki", nil},
	{reflect.TypeFor[CertKey](), "CertKey", nil},
	{reflect.TypeFor[Secrets](), "Secrets", nil},
	{reflect.TypeFor[User](), "User", nil},
	{reflect.TypeFor[Users](), "Users", nil},
	{reflect.TypeFor[InClusterProxyState](), "InClusterProxyState", nil},
	{reflect.TypeFor[NodeServicesState](), "NodeServicesState", nil},
	{reflect.TypeFor[Versioned[RegistrydBundle]](), "Versioned_RegistrydBundle", nil},
	{reflect.TypeFor[RegistrydBundle](), "RegistrydBundle", nil},
	{reflect.TypeFor[RegistrydConfig](), "RegistrydConfig", nil},
	{reflect.TypeFor[RegistrydUpstream](), "RegistrydUpstream", nil},
	{reflect.TypeFor[BundleFile](), "BundleFile", nil},
	{reflect.TypeFor[BashibleState](), "BashibleState", nil},
	{reflect.TypeFor[BashibleConfig](), "BashibleConfig", nil},
	{reflect.TypeFor[NodeConfigModel](), "NodeConfig", nil},
	{reflect.TypeFor[Mirror](), "Mirror", nil},
	{reflect.TypeFor[MirrorAuth](), "MirrorAuth", nil},
	{reflect.TypeFor[Rewrite](), "Rewrite", nil},
	{reflect.TypeFor[Condition](), "Condition", nil},
	{reflect.TypeFor[Inputs](), "Inputs", nil},
	{reflect.TypeFor[ClusterFacts](), "ClusterFacts", nil},
	{reflect.TypeFor[NodeFacts](), "NodeFacts", nil},
	{reflect.TypeFor[ReadOnlyUser](), "ReadOnlyUser", nil},
	{reflect.TypeFor[NodeStatus](), "NodeStatus", nil},
	{reflect.TypeFor[PodStatus](), "PodStatus", nil},
	{reflect.TypeFor[CheckerStatus](), "CheckerStatus", nil},
	{reflect.TypeFor[LeaderPod](), "LeaderPod", nil},
	{reflect.TypeFor[InitSecret](), "InitSecret", nil},
	{reflect.TypeFor[RegistrySecret](), "RegistrySecret", nil},
	{reflect.TypeFor[Step](), "Step", nil},
	{reflect.TypeFor[RegistryStateData](), "RegistryStateData", nil},
	{reflect.TypeFor[Outputs](), "Outputs", nil},
	{reflect.TypeFor[Output[BashibleConfig]](), "Output_BashibleConfig", nil},
	{reflect.TypeFor[Output[RegistrySecretOutput]](), "Output_RegistrySecretOutput", nil},
	{reflect.TypeFor[Output[map[string]Versioned[RegistrydBundle]]](), "Output_Map_of_Versioned_RegistrydBundle", nil},
	{reflect.TypeFor[Output[Versioned[RegistrydBundle]]](), "Output_Versioned_RegistrydBundle", nil},
	{reflect.TypeFor[Output[PKI]](), "Output_Pki", nil},
	{reflect.TypeFor[Output[User]](), "Output_User", nil},
	{reflect.TypeFor[Output[CheckerParams]](), "Output_CheckerParams", nil},
	{reflect.TypeFor[RegistrySecretOutput](), "RegistrySecretOutput", nil},
	{reflect.TypeFor[CheckerParams](), "CheckerParams", nil},
	{reflect.TypeFor[CheckerRegistry](), "CheckerRegistry", nil},
	{reflect.TypeFor[reconcileOptionsWire](), "ReconcileOptions", nil},
}

func TestGoTypesMatchTheWireSchema(t *testing.T) {
	defs := schemaDefs(t)
	for _, m := range mirrors {
		def, ok := defs[m.def]
		if !ok {
			t.Errorf("%s: no $defs/%s in the schema", m.goType.Name(), m.def)
			continue
		}
		want := schemaKeys(t, def)
		for k := range m.omitted {
			if !want[k] {
				t.Errorf("%s: omitted key %q is not in $defs/%s", m.goType.Name(), k, m.def)
			}
			delete(want, k)
		}
		got := jsonKeys(m.goType)
		if missing, extra := diff(want, got), diff(got, want); len(missing)+len(extra) > 0 {
			t.Errorf("%s vs $defs/%s: Go lacks %v, Go has extra %v", m.goType.Name(), m.def, missing, extra)
		}
	}
}

// schemaDefs reads the schema's $defs, keyed by the core's type names.
func schemaDefs(t *testing.T) map[string]json.RawMessage {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("the wire schema is checked in at %s: %v", schemaPath, err)
	}
	var schema struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	return schema.Defs
}

// schemaKeys is the set of properties of a schema definition; for a union (oneOf / anyOf,
// such as a tagged enum) the properties of every variant.
func schemaKeys(t *testing.T, def json.RawMessage) map[string]bool {
	var d struct {
		Properties map[string]json.RawMessage `json:"properties"`
		OneOf      []json.RawMessage          `json:"oneOf"`
		AnyOf      []json.RawMessage          `json:"anyOf"`
	}
	if err := json.Unmarshal(def, &d); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for k := range d.Properties {
		keys[k] = true
	}
	for _, v := range append(d.OneOf, d.AnyOf...) {
		for k := range schemaKeys(t, v) {
			keys[k] = true
		}
	}
	return keys
}

// jsonKeys is the set of JSON names encoding/json uses for a struct's exported fields.
func jsonKeys(ty reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range ty.NumField() {
		f := ty.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		keys[name] = true
	}
	return keys
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// The test above must be able to fail: a Go type with a renamed field does not match.
func TestSchemaCheckCatchesARenamedField(t *testing.T) {
	type renamed struct {
		Digest  string `json:"digest"`
		Size    uint64 `json:"size"`
		Created bool   `json:"isNew"`
	}
	want := schemaKeys(t, schemaDefs(t)["PutOutcome"])
	got := jsonKeys(reflect.TypeFor[renamed]())
	if m, e := diff(want, got), diff(got, want); !reflect.DeepEqual(m, []string{"created"}) || !reflect.DeepEqual(e, []string{"isNew"}) {
		t.Fatalf("missing %v, extra %v", m, e)
	}
}

// The orchestrator's Go enum constants are the schema's strings.
func TestOrchestratorEnumsAreTheSchemaStrings(t *testing.T) {
	defs := schemaDefs(t)
	for def, goValues := range map[string][]string{
		"ConditionStatus": {string(ConditionTrue), string(ConditionFalse)},
		"ConditionReason": {string(ReasonReady), string(ReasonProcessing), string(ReasonError)},
		"ServiceMode":     {string(ServiceDisabled), string(ServiceInClusterProxy), string(ServiceNodeServices)},
	} {
		var d struct {
			OneOf []struct {
				Const string `json:"const"`
			} `json:"oneOf"`
		}
		if err := json.Unmarshal(defs[def], &d); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, v := range d.OneOf {
			want = append(want, v.Const)
		}
		sort.Strings(want)
		got := append([]string(nil), goValues...)
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Go %v, schema %v", def, got, want)
		}
	}
	var output struct {
		OneOf []struct {
			Properties struct {
				Action struct {
					Const string `json:"const"`
				} `json:"action"`
			} `json:"properties"`
		} `json:"oneOf"`
	}
	if err := json.Unmarshal(defs["Output_Pki"], &output); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, o := range output.OneOf {
		actions = append(actions, o.Properties.Action.Const)
	}
	sort.Strings(actions)
	if want := []string{string(ActionDelete), string(ActionKeep), string(ActionWrite)}; !reflect.DeepEqual(actions, want) {
		t.Errorf("actions: schema %v, Go %v", actions, want)
	}
}
