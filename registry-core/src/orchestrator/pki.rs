//! The module's PKI (DOMAIN.md §11): the CA (ECDSA P-256, CN `registry-ca`, ten years), the
//! token certificate (RSA 2048, signed by the CA, ending an hour before it) and the TLS
//! certificates of each registry component.
//!
//! Every key and every signature comes from the injected generator: ECDSA signatures are
//! deterministic (RFC 6979) and serial numbers are drawn from the generator, so a seeded
//! environment produces byte-identical certificates. Anything undecodable, expired or not
//! chained to the CA is regenerated; anything valid is kept as it is.

use std::net::IpAddr;

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey as EcdsaKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
    SigningKey,
};
use sha2::{Digest as _, Sha256};
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use super::env::{Env, digest};
use super::state::CertKey;
use super::time::Timestamp;
use crate::settings::Secret;

/// The CA's common name.
pub const CA_COMMON_NAME: &str = "registry-ca";
/// The token certificate's common name.
pub const TOKEN_COMMON_NAME: &str = "registry-auth-token";
/// How long the CA lives: ten years of 365 days (cfssl's `87600h`).
pub const CA_LIFETIME_SECS: i64 = 10 * 365 * 86_400;
/// How much earlier than the CA the token and component certificates end.
pub const BEFORE_CA_END_SECS: i64 = 3600;

/// An ECDSA P-256 key that signs for rcgen.
#[derive(Clone)]
struct EcdsaSigner {
    key: EcdsaKey,
    public: Vec<u8>,
}

impl EcdsaSigner {
    fn new(key: EcdsaKey) -> Self {
        let public = key.verifying_key().to_sec1_bytes().to_vec();
        EcdsaSigner { key, public }
    }

    fn pem(&self) -> Option<Secret> {
        let pem = self.key.to_pkcs8_pem(LineEnding::LF).ok()?;
        Some(Secret::new(pem.as_str()))
    }
}

impl PublicKeyData for EcdsaSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for EcdsaSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let signature: Signature = self.key.sign(msg);
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// An RSA public key, for the token certificate rcgen writes.
struct RsaPublic(Vec<u8>);

impl PublicKeyData for RsaPublic {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

/// The CA, decoded and checked, ready to sign.
#[derive(Clone)]
pub(crate) struct Ca {
    signer: EcdsaSigner,
    cert_pem: String,
    cert_der: Vec<u8>,
    not_before: i64,
    not_after: i64,
}

impl Ca {
    /// The CA certificate (PEM).
    pub(crate) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's name and key identifier as rcgen needs them to sign: read back from the
    /// certificate, so a CA made elsewhere (dhctl's `registry-init`) signs correctly too.
    fn issuer_params(&self) -> Result<CertificateParams, PkiError> {
        let bad = || PkiError("the registry CA certificate cannot be read".into());
        let (_, cert) = X509Certificate::from_der(&self.cert_der).map_err(|_| bad())?;
        let mut dn = DistinguishedName::new();
        for attr in cert.subject().iter_attributes() {
            let value = attr.as_str().map_err(|_| bad())?;
            let oid: Vec<u64> = attr.attr_type().iter().ok_or_else(bad)?.collect();
            dn.push(DnType::from_oid(&oid), value);
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.key_identifier_method =
            match cert
                .iter_extensions()
                .find_map(|e| match e.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                        Some(id.0.to_vec())
                    }
                    _ => None,
                }) {
                Some(id) => KeyIdMethod::PreSpecified(id),
                None => {
                    KeyIdMethod::PreSpecified(Sha256::digest(&self.signer.public)[..20].to_vec())
                }
            };
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        Ok(params)
    }

    fn verifying_key(&self) -> &VerifyingKey {
        self.signer.key.verifying_key()
    }

    /// The CA as it is stored.
    pub(crate) fn cert_key(&self) -> Option<CertKey> {
        Some(CertKey {
            cert: self.cert_pem.clone(),
            key: self.signer.pem()?,
        })
    }
}

/// What went wrong building a certificate; never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PkiError(String);

fn pki_err(what: &str) -> impl Fn(rcgen::Error) -> PkiError + '_ {
    move |e| PkiError(format!("{what}: {e}"))
}

/// The stored CA when it is valid now (decodes, its key matches, self-signed, in its validity
/// period); otherwise a new one.
pub(crate) fn ensure_ca(existing: Option<&CertKey>, env: &mut Env) -> Result<Ca, PkiError> {
    if let Some(ck) = existing {
        let id = digest(&[ck.cert.as_bytes(), ck.key.expose().as_bytes()]);
        let now = env.now().unix();
        if let Some(ca) = env.memory.decoded_cas.get(&id) {
            if ca.not_before <= now && now < ca.not_after {
                return Ok(ca.clone());
            }
        } else if let Some(ca) = decode_ca(ck, env.now()) {
            env.memory.decoded_cas.insert(id, ca.clone());
            return Ok(ca);
        }
    }
    generate_ca(env)
}

fn decode_ca(ck: &CertKey, now: Timestamp) -> Option<Ca> {
    let key = EcdsaKey::from_pkcs8_pem(ck.key.expose()).ok()?;
    let signer = EcdsaSigner::new(key);
    let der = pem_to_der(&ck.cert)?;
    let (rest, cert) = X509Certificate::from_der(&der).ok()?;
    if !rest.is_empty() || cert.public_key().subject_public_key.data.as_ref() != signer.public {
        return None;
    }
    if !cert.is_ca() || !signed_by(&cert, signer.key.verifying_key()) || !in_validity(&cert, now) {
        return None;
    }
    let (not_before, not_after) = (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    );
    Some(Ca {
        signer,
        cert_pem: ck.cert.clone(),
        cert_der: der.clone(),
        not_before,
        not_after,
    })
}

fn generate_ca(env: &mut Env) -> Result<Ca, PkiError> {
    let signer = EcdsaSigner::new(
        <EcdsaKey as p256::elliptic_curve::Generate>::generate_from_rng(env.rng()),
    );
    let now = env.now().unix();
    let not_after = now + CA_LIFETIME_SECS;
    let mut params = base_params(env, CA_COMMON_NAME, now, not_after, &signer.public)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let cert = params
        .self_signed(&signer)
        .map_err(pki_err("the registry CA"))?;
    Ok(Ca {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        signer,
        not_before: now,
        not_after,
    })
}

/// The stored token certificate when it is valid and chained to `ca`; otherwise a new RSA 2048
/// key and certificate ending an hour before the CA.
pub(crate) fn ensure_token(
    existing: Option<&CertKey>,
    ca: &Ca,
    env: &mut Env,
) -> Result<CertKey, PkiError> {
    if let Some(ck) = existing.filter(|ck| checked_leaf(ck, ca, env, None)) {
        return Ok(ck.clone());
    }
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::PrivateKey::new(env.rng(), 2048)
        .map_err(|e| PkiError(format!("the token key: {e}")))?;
    let public = key
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| PkiError(format!("the token key: {e}")))?;
    let public = RsaPublic(public.as_bytes().to_vec());
    let key_pem = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| PkiError(format!("the token key: {e}")))?;
    let now = env.now().unix();
    let mut params = base_params(
        env,
        TOKEN_COMMON_NAME,
        now,
        ca.not_after - BEFORE_CA_END_SECS,
        &public.0,
    )?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = sign_with(&params, &public, ca)?;
    Ok(CertKey {
        cert,
        key: Secret::new(key_pem.as_str()),
    })
}

/// What a component certificate must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeafSpec {
    /// The common name.
    pub(crate) common_name: String,
    /// DNS names.
    pub(crate) dns: Vec<String>,
    /// IP addresses.
    pub(crate) ips: Vec<IpAddr>,
}

/// The stored component certificate when it is valid, chained to `ca` and names exactly what
/// `spec` asks; otherwise a new ECDSA P-256 server certificate.
pub(crate) fn ensure_leaf(
    existing: Option<&CertKey>,
    spec: &LeafSpec,
    ca: &Ca,
    env: &mut Env,
) -> Result<CertKey, PkiError> {
    if let Some(ck) = existing.filter(|ck| checked_leaf(ck, ca, env, Some(spec))) {
        return Ok(ck.clone());
    }
    let signer = EcdsaSigner::new(
        <EcdsaKey as p256::elliptic_curve::Generate>::generate_from_rng(env.rng()),
    );
    let now = env.now().unix();
    let mut params = base_params(
        env,
        &spec.common_name,
        now,
        ca.not_after - BEFORE_CA_END_SECS,
        &signer.public,
    )?;
    let mut sans = Vec::new();
    for d in &spec.dns {
        let name = d
            .clone()
            .try_into()
            .map_err(pki_err("a DNS name of a component certificate"))?;
        sans.push(SanType::DnsName(name));
    }
    sans.extend(spec.ips.iter().copied().map(SanType::IpAddress));
    params.subject_alt_names = sans;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = sign_with(&params, &signer, ca)?;
    let key = signer
        .pem()
        .ok_or_else(|| PkiError("a component key could not be encoded".into()))?;
    Ok(CertKey { cert, key })
}

fn base_params(
    env: &mut Env,
    common_name: &str,
    not_before: i64,
    not_after: i64,
    public_key: &[u8],
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before)
        .map_err(|e| PkiError(format!("notBefore: {e}")))?;
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after)
        .map_err(|e| PkiError(format!("notAfter: {e}")))?;
    let mut serial = env.random_bytes::<16>();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.key_identifier_method =
        KeyIdMethod::PreSpecified(Sha256::digest(public_key)[..20].to_vec());
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn sign_with(
    params: &CertificateParams,
    public: &impl PublicKeyData,
    ca: &Ca,
) -> Result<String, PkiError> {
    let issuer = Issuer::new(ca.issuer_params()?, &ca.signer);
    let cert = params
        .signed_by(public, &issuer)
        .map_err(pki_err("a certificate signed by the registry CA"))?;
    Ok(cert.pem())
}

/// [`leaf_is_valid`], remembered in the environment: a certificate checked once is only
/// compared with the clock afterwards.
fn checked_leaf(ck: &CertKey, ca: &Ca, env: &mut Env, spec: Option<&LeafSpec>) -> bool {
    let spec_text = spec.map(|s| format!("{s:?}")).unwrap_or_default();
    let id = digest(&[
        ca.cert_pem.as_bytes(),
        ck.cert.as_bytes(),
        ck.key.expose().as_bytes(),
        spec_text.as_bytes(),
    ]);
    let now = env.now().unix();
    if let Some((not_before, not_after)) = env.memory.checked_certs.get(&id) {
        return *not_before <= now && now < *not_after;
    }
    match leaf_is_valid(ck, ca, env.now(), spec) {
        Some(period) => {
            env.memory.checked_certs.insert(id, period);
            true
        }
        None => false,
    }
}

/// Whether a stored certificate and key decode, match, chain to `ca`, are valid now and (for a
/// component) name exactly what the spec asks; if so, its validity period.
fn leaf_is_valid(
    ck: &CertKey,
    ca: &Ca,
    now: Timestamp,
    spec: Option<&LeafSpec>,
) -> Option<(i64, i64)> {
    leaf_check(ck, ca, now, spec).then_some(())?;
    let der = pem_to_der(&ck.cert)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    Some((
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

fn leaf_check(ck: &CertKey, ca: &Ca, now: Timestamp, spec: Option<&LeafSpec>) -> bool {
    let Some(der) = pem_to_der(&ck.cert) else {
        return false;
    };
    let Ok(([], cert)) = X509Certificate::from_der(&der) else {
        return false;
    };
    if !signed_by(&cert, ca.verifying_key()) || !in_validity(&cert, now) {
        return false;
    }
    if !key_matches(&cert, ck.key.expose()) {
        return false;
    }
    match spec {
        None => true,
        Some(spec) => names_match(&cert, spec),
    }
}

fn key_matches(cert: &X509Certificate<'_>, key_pem: &str) -> bool {
    let public = cert.public_key().subject_public_key.data.as_ref();
    if let Ok(key) = EcdsaKey::from_pkcs8_pem(key_pem) {
        return key.verifying_key().to_sec1_bytes().as_ref() == public;
    }
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    rsa::PrivateKey::from_pkcs8_pem(key_pem)
        .ok()
        .and_then(|k| k.to_public_key().to_pkcs1_der().ok())
        .is_some_and(|der| der.as_bytes() == public)
}

fn names_match(cert: &X509Certificate<'_>, spec: &LeafSpec) -> bool {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return spec.dns.is_empty() && spec.ips.is_empty();
    };
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push((*d).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => ips.push(IpAddr::from(
                    <[u8; 4]>::try_from(*bytes).unwrap_or_default(),
                )),
                16 => ips.push(IpAddr::from(
                    <[u8; 16]>::try_from(*bytes).unwrap_or_default(),
                )),
                _ => return false,
            },
            _ => return false,
        }
    }
    let cn_ok = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        == Some(spec.common_name.as_str());
    cn_ok && dns == spec.dns && ips == spec.ips
}

fn signed_by(cert: &X509Certificate<'_>, key: &VerifyingKey) -> bool {
    let Ok(signature) = Signature::from_der(cert.signature_value.data.as_ref()) else {
        return false;
    };
    key.verify(cert.tbs_certificate.as_ref(), &signature)
        .is_ok()
}

fn in_validity(cert: &X509Certificate<'_>, now: Timestamp) -> bool {
    let v = cert.validity();
    v.not_before.timestamp() <= now.unix() && now.unix() < v.not_after.timestamp()
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let (rest, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    if block.label != "CERTIFICATE" || !rest.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(block.contents)
}
