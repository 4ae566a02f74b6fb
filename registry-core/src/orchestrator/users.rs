//! Registry users (DOMAIN.md §11): `ro`, `rw`, `mirror-puller`, `mirror-pusher`, each with a
//! 16-character password from `[a-zA-Z0-9]` and its bcrypt hash. A valid user from the state or
//! from its secret is kept; its hash is recomputed only when it does not match the password.

use super::env::Env;
use super::state::User;

/// Nodes and platform components pull with it (Proxy, Local).
pub const RO: &str = "ro";
/// `d8 mirror push` into Local.
pub const RW: &str = "rw";
/// Masters fetch from each other (Local).
pub const MIRROR_PULLER: &str = "mirror-puller";
/// Masters push to each other (Local).
pub const MIRROR_PUSHER: &str = "mirror-pusher";
/// Length of generated passwords.
pub const PASSWORD_LEN: usize = 16;
/// Length of the HTTP secret.
pub const HTTP_SECRET_LEN: usize = 25;

/// A password the module accepts from a stored user: non-empty, printable, bcrypt-sized.
fn password_ok(password: &str) -> bool {
    !password.is_empty() && password.len() <= 72 && !password.chars().any(char::is_control)
}

/// The user `name`: the first valid one of `stored` and `secret` (hash refreshed if it does not
/// match), or a new one.
pub(crate) fn ensure_user(
    name: &str,
    stored: Option<&User>,
    secret: Option<&User>,
    env: &mut Env,
) -> User {
    for candidate in [stored, secret].into_iter().flatten() {
        if candidate.name != name || !password_ok(candidate.password.expose()) {
            continue;
        }
        if env.bcrypt_matches(
            candidate.password.expose(),
            candidate.password_hash.expose(),
        ) {
            return candidate.clone();
        }
        let hash = env.bcrypt_hash(candidate.password.expose());
        return User {
            password_hash: crate::settings::Secret::new(hash),
            ..candidate.clone()
        };
    }
    let password = env.random_string(PASSWORD_LEN);
    let hash = env.bcrypt_hash(password.expose());
    User {
        name: name.to_owned(),
        password,
        password_hash: crate::settings::Secret::new(hash),
    }
}
