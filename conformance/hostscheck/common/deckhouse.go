package hostscheck

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Stock containerd ignores the Deckhouse fork's hosts.toml extensions
// ([auth], [[rewrite]] and their [host."URL"] forms). DecodeDeckhouse checks
// the Deckhouse dialect on its own: a strict go-toml/v2 decode into a
// struct mirroring the Deckhouse patches (unknown keys are errors), the
// value checks containerd's parseHostConfig makes, and Go's regexp for
// every rewrite. It reports secrets only as booleans and the user name.

// Deckhouse is the "deckhouse" object of a result.
type Deckhouse struct {
	// StrictError lists every problem ("; "-separated): unknown keys, wrong
	// TOML types, values containerd's parser rejects (unknown capability,
	// bad ca/client/header types, bad dial_timeout), rewrite regexes Go
	// cannot compile, and a rewrite written as a single table instead of
	// an array of tables. "" when the file is valid Deckhouse dialect.
	// A TOML syntax or type error stops the decode: hosts are then
	// incomplete (usually empty).
	StrictError string `json:"strict_error"`
	// Root is the top-level entry: server (url, "" when absent), [auth]
	// and [[rewrite]].
	Root DeckhouseHost `json:"root"`
	// Hosts are the [host."URL"] entries, one per URL, in the order the
	// URL first appears in the file.
	Hosts []DeckhouseHost `json:"hosts"`
}

// DeckhouseHost is one entry's Deckhouse extensions.
type DeckhouseHost struct {
	URL      string        `json:"url"`
	Auth     *AuthSummary  `json:"auth"`
	Rewrites []RewriteInfo `json:"rewrites"`
}

// AuthSummary describes an auth table without revealing secrets.
type AuthSummary struct {
	Username         string `json:"username"`
	HasPassword      bool   `json:"has_password"`
	AuthDecodedUser  string `json:"auth_decoded_user"`
	HasIdentityToken bool   `json:"has_identitytoken"`
	// AuthError says why "auth" is not base64 of "user:password" ("" when
	// it is, or when there is no "auth").
	AuthError string `json:"auth_error"`
}

// RewriteInfo is one [[rewrite]] entry.
type RewriteInfo struct {
	Regex      string `json:"regex"`
	Replace    string `json:"replace"`
	ValidRegex bool   `json:"valid_regex"`
}

// dhFields are the keys allowed at the top level and in [host."URL"]
// (upstream hostFileConfig plus the Deckhouse auth and rewrite patches).
type dhFields struct {
	Capabilities []string       `toml:"capabilities"`
	CACert       any            `toml:"ca"`
	Client       any            `toml:"client"`
	SkipVerify   *bool          `toml:"skip_verify"`
	Header       map[string]any `toml:"header"`
	OverridePath *bool          `toml:"override_path"`
	DialTimeout  *string        `toml:"dial_timeout"`
	Auth         *dhAuth        `toml:"auth"`
	Rewrite      []dhRewrite    `toml:"rewrite"`
}

type dhAuth struct {
	Username      string `toml:"username"`
	Password      string `toml:"password"`
	Auth          string `toml:"auth"`
	IdentityToken string `toml:"identitytoken"`
}

type dhRewrite struct {
	Regex   string `toml:"regex"`
	Replace string `toml:"replace"`
}

type dhFile struct {
	dhFields
	Server *string             `toml:"server"`
	Host   map[string]dhFields `toml:"host"`
}

// DecodeDeckhouse checks the hosts.toml at path. It returns nil when the
// file does not exist.
func DecodeDeckhouse(path string) *Deckhouse {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &Deckhouse{StrictError: err.Error(), Hosts: []DeckhouseHost{}, Root: emptyHost("")}
	}
	return DecodeDeckhouseBytes(b)
}

// DecodeDeckhouseBytes checks the contents of a hosts.toml.
func DecodeDeckhouseBytes(b []byte) *Deckhouse {
	var problems []string
	var f dhFile
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		problems = append(problems, describeTOMLError(err)...)
	}

	out := &Deckhouse{Hosts: []DeckhouseHost{}}
	server := ""
	if f.Server != nil {
		server = *f.Server
	}
	out.Root = summarize(server, f.dhFields, "", &problems)

	order, shapeProblems := scanLayout(b)
	problems = append(problems, shapeProblems...)
	for _, u := range slices.Sorted(maps.Keys(f.Host)) {
		if !slices.Contains(order, u) {
			order = append(order, u)
		}
	}
	for _, u := range order {
		fields, ok := f.Host[u]
		if !ok {
			continue // the decode failed before reaching it
		}
		out.Hosts = append(out.Hosts, summarize(u, fields, fmt.Sprintf("host.%q.", u), &problems))
	}
	out.StrictError = strings.Join(problems, "; ")
	return out
}

func emptyHost(u string) DeckhouseHost {
	return DeckhouseHost{URL: u, Rewrites: []RewriteInfo{}}
}

// summarize reports one entry and appends its value problems.
func summarize(u string, f dhFields, prefix string, problems *[]string) DeckhouseHost {
	h := emptyHost(u)
	add := func(format string, args ...any) {
		*problems = append(*problems, prefix+fmt.Sprintf(format, args...))
	}

	for _, c := range f.Capabilities {
		switch strings.ToLower(c) {
		case "pull", "resolve", "push", "referrers":
		default:
			add("capabilities: unknown capability %q", c)
		}
	}
	if f.CACert != nil && !isStringOrStrings(f.CACert) {
		add("ca: must be a string or an array of strings, not %s", tomlType(f.CACert))
	}
	if f.Client != nil {
		checkClient(f.Client, add)
	}
	for _, k := range slices.Sorted(maps.Keys(f.Header)) {
		if !isStringOrStrings(f.Header[k]) {
			add("header.%q: must be a string or an array of strings, not %s", k, tomlType(f.Header[k]))
		}
	}
	if f.DialTimeout != nil {
		if _, err := time.ParseDuration(*f.DialTimeout); err != nil {
			add("dial_timeout: %v", err)
		}
	}
	if f.Auth != nil {
		h.Auth = summarizeAuth(*f.Auth)
	}
	for i, r := range f.Rewrite {
		_, err := regexp.Compile(r.Regex)
		h.Rewrites = append(h.Rewrites, RewriteInfo{Regex: r.Regex, Replace: r.Replace, ValidRegex: err == nil})
		if err != nil {
			add("rewrite[%d].regex: %v", i, err)
		}
	}
	return h
}

func summarizeAuth(a dhAuth) *AuthSummary {
	s := &AuthSummary{
		Username:         a.Username,
		HasPassword:      a.Password != "",
		HasIdentityToken: a.IdentityToken != "",
	}
	if a.Auth != "" {
		dec, err := base64.StdEncoding.DecodeString(a.Auth)
		switch {
		case err != nil:
			s.AuthError = "auth is not valid base64"
		default:
			user, _, ok := strings.Cut(string(dec), ":")
			if ok {
				s.AuthDecodedUser = user
			} else {
				s.AuthError = `decoded auth has no ":"`
			}
		}
	}
	return s
}

func isStringOrStrings(v any) bool {
	switch v := v.(type) {
	case string:
		return true
	case []any:
		for _, e := range v {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// checkClient accepts what containerd's parseHostConfig accepts: a string,
// or an array of strings and [cert, key] pairs.
func checkClient(v any, add func(string, ...any)) {
	switch v := v.(type) {
	case string:
	case []any:
		for i, e := range v {
			switch e := e.(type) {
			case string:
			case []any:
				if !isStringOrStrings(e) || len(e) != 2 {
					add("client[%d]: must be a [cert, key] pair of strings", i)
				}
			default:
				add("client[%d]: must be a string or a [cert, key] pair, not %s", i, tomlType(e))
			}
		}
	default:
		add("client: must be a string or an array, not %s", tomlType(v))
	}
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// describeTOMLError renders go-toml errors without the source excerpts
// (DecodeError.String()), which could show a password.
func describeTOMLError(err error) []string {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var out []string
		for _, e := range strict.Errors {
			row, col := e.Position()
			out = append(out, fmt.Sprintf("unknown key %s (line %d, column %d)", keyString(e.Key()), row, col))
		}
		return out
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := fmt.Sprintf("%s (line %d, column %d)", de.Error(), row, col)
		if k := de.Key(); len(k) > 0 {
			msg = keyString(k) + ": " + msg
		}
		return []string{msg}
	}
	return []string{err.Error()}
}

func keyString(k toml.Key) string {
	parts := make([]string, len(k))
	for i, p := range k {
		if isBareKey(p) {
			parts[i] = p
		} else {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, ".")
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// scanLayout lists the URLs under `host` in the order they first appear:
// in table headers ([host."u"], [host."u".auth], [[host."u".rewrite]]) and
// in keys (host."u" = {...}, or "u".x = ... inside [host]). Unlike
// containerd 2.x's own order list, each URL appears once.
//
// It also reports a rewrite written as a single table ([rewrite] or
// [host."u".rewrite]): go-toml/v2 decodes that into the slice as one
// entry, but go-toml v1 (Deckhouse's 1.7 builds) rejects it.
func scanLayout(b []byte) (order, problems []string) {
	note := func(parts []string) {
		if len(parts) >= 2 && parts[0] == "host" && !slices.Contains(order, parts[1]) {
			order = append(order, parts[1])
		}
	}
	var p unstable.Parser
	p.Reset(b)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e)
			note(table)
			isRewrite := len(table) == 1 && table[0] == "rewrite" ||
				len(table) == 3 && table[0] == "host" && table[2] == "rewrite"
			if e.Kind == unstable.Table && isRewrite {
				problems = append(problems, fmt.Sprintf("%s: must be an array of tables [[%s]], not a table", keyString(table), keyString(table)))
			}
		case unstable.KeyValue:
			note(append(slices.Clone(table), keyParts(e)...))
		}
	}
	return order, problems
}

func keyParts(n *unstable.Node) []string {
	var parts []string
	for it := n.Key(); it.Next(); {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}
