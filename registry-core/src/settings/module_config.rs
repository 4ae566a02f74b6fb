//! `spec.settings.registry` of ModuleConfig `deckhouse`: the schema walk that collects every
//! problem and, when there are none, builds [`RegistrySettings`].

use serde_json::{Map, Value};

use super::fields::{enumeration, join, object, reject_unknown, string};
use super::grammar::AddressError;
use super::problem::{Collector, ProblemCode};
use super::types::{DEFAULT_IMAGES_REPO, check_secret, check_username};
use super::{
    CaBundle, CheckMode, Credentials, Mode, RegistrySettings, Scheme, Secret, Ttl, TtlError,
    Upstream,
};

/// JSON path of the registry object.
pub(crate) const REGISTRY_PATH: &str = "spec.settings.registry";

/// The three mode sections and the mode each belongs to.
const SECTIONS: [(&str, Mode); 3] = [
    ("direct", Mode::Direct),
    ("unmanaged", Mode::Unmanaged),
    ("proxy", Mode::Proxy),
];

/// A valid mode section: its upstream and (proxy only) its TTL.
type Section = (Upstream, Option<Ttl>);

/// What `spec.settings.registry` says, before bootstrap and source checks.
pub(crate) enum Outcome {
    /// No `spec.settings.registry`: legacy Unmanaged.
    Absent,
    /// Settings, valid as far as this walk could tell (`None` when problems were recorded).
    Present(Option<RegistrySettings>),
}

/// Walks a ModuleConfig document (already known to be ModuleConfig `deckhouse`).
pub(crate) fn read(doc: &Map<String, Value>, c: &mut Collector) -> Outcome {
    let Ok(Some(spec)) = object(doc, "spec", "spec", c) else {
        return absent_unless_bad(c);
    };
    let Ok(Some(settings)) = object(spec, "settings", "spec.settings", c) else {
        return absent_unless_bad(c);
    };
    match object(settings, "registry", REGISTRY_PATH, c) {
        Ok(Some(registry)) => Outcome::Present(read_registry(registry, c)),
        Ok(None) => Outcome::Absent,
        Err(()) => Outcome::Present(None),
    }
}

fn absent_unless_bad(c: &Collector) -> Outcome {
    if c.problems.is_empty() {
        Outcome::Absent
    } else {
        Outcome::Present(None)
    }
}

fn read_registry(registry: &Map<String, Value>, c: &mut Collector) -> Option<RegistrySettings> {
    let before = c.problems.len();
    reject_unknown(
        registry,
        &["mode", "direct", "unmanaged", "proxy"],
        REGISTRY_PATH,
        c,
    );
    let mode_choices = [
        ("Direct", Mode::Direct),
        ("Proxy", Mode::Proxy),
        ("Local", Mode::Local),
        ("Unmanaged", Mode::Unmanaged),
    ];
    let mode = enumeration(
        registry,
        "mode",
        &join(REGISTRY_PATH, "mode"),
        &mode_choices,
        c,
    )
    .map(|m| m.unwrap_or(Mode::Unmanaged));

    // Every present section is checked, whatever the mode, so all problems come out at once.
    let mut sections: Vec<(Mode, Option<Section>)> = Vec::new();
    for (name, section_mode) in SECTIONS {
        let path = join(REGISTRY_PATH, name);
        if let Ok(Some(section)) = object(registry, name, &path, c) {
            sections.push((
                section_mode,
                read_section(section, &path, section_mode == Mode::Proxy, c),
            ));
        }
    }
    let Ok(mode) = mode else { return None };
    check_presence(registry, mode, c);
    if c.problems.len() > before {
        return None;
    }
    let mut upstream_for = |m: Mode| {
        sections
            .iter_mut()
            .find(|(sm, _)| *sm == m)
            .and_then(|(_, s)| s.take())
    };
    Some(match mode {
        Mode::Direct => RegistrySettings::Direct {
            upstream: upstream_for(Mode::Direct)?.0,
        },
        Mode::Proxy => {
            let (upstream, ttl) = upstream_for(Mode::Proxy)?;
            RegistrySettings::Proxy {
                upstream,
                ttl: ttl.unwrap_or_default(),
            }
        }
        Mode::Local => RegistrySettings::Local,
        Mode::Unmanaged => match upstream_for(Mode::Unmanaged) {
            Some((upstream, _)) => RegistrySettings::Unmanaged { upstream },
            None => RegistrySettings::UnmanagedLegacy { upstream: None },
        },
        Mode::UnmanagedLegacy => RegistrySettings::UnmanagedLegacy { upstream: None },
    })
}

/// Each mode takes exactly its own section; `unmanaged` is optional (absent means legacy).
fn check_presence(registry: &Map<String, Value>, mode: Mode, c: &mut Collector) {
    let present = |key: &str| !matches!(registry.get(key), None | Some(Value::Null));
    for (name, section_mode) in SECTIONS {
        let path = join(REGISTRY_PATH, name);
        if section_mode == mode {
            if !present(name) && mode != Mode::Unmanaged {
                c.push(
                    &path,
                    ProblemCode::SectionRequired,
                    format!("mode {mode} requires the {name} section"),
                );
            }
        } else if present(name) {
            c.push(
                &path,
                ProblemCode::SectionNotAllowed,
                format!("the {name} section is only allowed with mode {section_mode}, but mode is {mode}"),
            );
        }
    }
}

/// One of `direct`, `unmanaged`, `proxy`: the upstream and (proxy only) the TTL.
fn read_section(
    section: &Map<String, Value>,
    base: &str,
    with_ttl: bool,
    c: &mut Collector,
) -> Option<Section> {
    let before = c.problems.len();
    let mut known = vec![
        "imagesRepo",
        "scheme",
        "ca",
        "license",
        "username",
        "password",
        "checkMode",
    ];
    if with_ttl {
        known.push("ttl");
    }
    reject_unknown(section, &known, base, c);
    let f = |key: &str| join(base, key);

    let scheme = enumeration(
        section,
        "scheme",
        &f("scheme"),
        &[("HTTP", Scheme::Http), ("HTTPS", Scheme::Https)],
        c,
    )
    .map(Option::unwrap_or_default);
    let check_mode = enumeration(
        section,
        "checkMode",
        &f("checkMode"),
        &[("Default", CheckMode::Default), ("Relax", CheckMode::Relax)],
        c,
    )
    .map(Option::unwrap_or_default);
    let repo = read_images_repo(section, &f("imagesRepo"), scheme.unwrap_or_default(), c);
    let ca = read_ca(section, &f("ca"), c);
    if scheme == Ok(Scheme::Http) && has_text(section, "ca") {
        c.push(
            &f("ca"),
            ProblemCode::CaWithHttp,
            "a CA is not allowed when scheme is HTTP",
        );
    }
    let credentials = read_credentials(section, base, c);
    let ttl = if with_ttl {
        read_ttl(section, &f("ttl"), c)
    } else {
        Ok(None)
    };

    if c.problems.len() > before {
        return None;
    }
    let mut upstream = repo.ok()?.with_check_mode(check_mode.ok()?);
    if let Some(ca) = ca.ok()? {
        upstream = upstream.with_ca(ca).ok()?;
    }
    if let Some(credentials) = credentials.ok()? {
        upstream = upstream.with_credentials(credentials).ok()?;
    }
    Some((upstream, ttl.ok()?))
}

/// `imagesRepo`, defaulted, trimmed of whitespace and trailing `/`, split and checked.
pub(crate) fn read_images_repo(
    obj: &Map<String, Value>,
    path: &str,
    scheme: Scheme,
    c: &mut Collector,
) -> Result<Upstream, ()> {
    let raw = string(obj, "imagesRepo", path, &[], c)?.unwrap_or(DEFAULT_IMAGES_REPO);
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        c.push(path, ProblemCode::Empty, "must not be empty");
        return Err(());
    }
    match super::grammar::parse_images_repo(trimmed) {
        Ok(parts) => Ok(Upstream::from_parts(parts, scheme)),
        Err(errors) => {
            for e in errors {
                let code = match e {
                    AddressError::Host(_) => ProblemCode::InvalidHost,
                    AddressError::Port(_) => ProblemCode::InvalidPort,
                    AddressError::Path(_) => ProblemCode::InvalidPath,
                };
                c.push(path, code, e.message());
            }
            Err(())
        }
    }
}

/// Whether `key` holds a non-blank string.
pub(crate) fn has_text(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// `ca`: a PEM bundle; empty counts as absent.
pub(crate) fn read_ca(
    obj: &Map<String, Value>,
    path: &str,
    c: &mut Collector,
) -> Result<Option<CaBundle>, ()> {
    read_ca_field(obj, "ca", path, c)
}

pub(crate) fn read_ca_field(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    c: &mut Collector,
) -> Result<Option<CaBundle>, ()> {
    match string(obj, key, path, &['\n', '\r', '\t'], c)? {
        None => Ok(None),
        Some(pem) if pem.trim().is_empty() => Ok(None),
        Some(pem) => CaBundle::parse(pem)
            .map(Some)
            .map_err(|e| c.push(path, ProblemCode::InvalidCa, e.to_string())),
    }
}

/// `username` + `password`, or `license`; never both, never half a pair. Empty counts as absent.
fn read_credentials(
    section: &Map<String, Value>,
    base: &str,
    c: &mut Collector,
) -> Result<Option<Credentials>, ()> {
    let f = |key: &str| join(base, key);
    let mut failed = false;
    let mut field = |key: &str, c: &mut Collector| -> Option<String> {
        match string(section, key, &f(key), &[], c) {
            Ok(v) => v.filter(|s| !s.is_empty()).map(str::to_owned),
            Err(()) => {
                failed = true;
                None
            }
        }
    };
    let username = field("username", c);
    let password = field("password", c);
    let license = field("license", c);
    if failed {
        return Err(());
    }
    let before = c.problems.len();
    if let Some(u) = &username
        && let Err(e) = check_username(u)
    {
        c.push(&f("username"), ProblemCode::InvalidUsername, e.to_string());
    }
    for (key, value) in [("password", &password), ("license", &license)] {
        if let Some(Err(e)) = value.as_deref().map(check_secret) {
            c.push(&f(key), ProblemCode::ControlCharacter, e.to_string());
        }
    }
    match (&username, &password) {
        (Some(_), None) => c.push(
            &f("password"),
            ProblemCode::IncompleteCredentials,
            "password is required when username is set",
        ),
        (None, Some(_)) => c.push(
            &f("username"),
            ProblemCode::IncompleteCredentials,
            "username is required when password is set",
        ),
        _ => {}
    }
    if license.is_some() && (username.is_some() || password.is_some()) {
        c.push(
            &f("license"),
            ProblemCode::ConflictingCredentials,
            "license cannot be combined with username/password; use one or the other",
        );
    }
    if c.problems.len() > before {
        return Err(());
    }
    Ok(match (username, password, license) {
        (Some(username), Some(password), None) => Some(Credentials::UserPassword {
            username,
            password: Secret::new(password),
        }),
        (None, None, Some(license)) => Some(Credentials::License {
            license: Secret::new(license),
        }),
        _ => None,
    })
}

fn read_ttl(
    section: &Map<String, Value>,
    path: &str,
    c: &mut Collector,
) -> Result<Option<Ttl>, ()> {
    let Some(raw) = string(section, "ttl", path, &[], c)? else {
        return Ok(None);
    };
    raw.parse::<Ttl>().map(Some).map_err(|e| {
        let code = match e {
            TtlError::Syntax(_) => ProblemCode::InvalidTtl,
            TtlError::TooShort(_) => ProblemCode::TtlTooShort,
        };
        c.push(path, code, e.to_string());
    })
}
