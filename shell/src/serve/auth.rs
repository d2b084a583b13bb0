//! Users and tokens for `fjq serve`.
//!
//! The users file holds one `name:hash` line per user, the hash in PHC form (argon2id with a
//! random salt), so no password is ever stored in clear; `fjq user add` writes it, reading the
//! password from standard input so that it never appears on a command line or in shell history.
//! A successful handshake earns a random bearer token (256 bits from the operating system),
//! valid for a working day; every other call must carry one.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand_core::{OsRng, RngCore};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a token stays valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The users file, read at start-up.
#[derive(Debug, Default)]
pub struct Users {
    hashes: HashMap<String, String>,
}

impl Users {
    pub fn load(path: &Path) -> anyhow::Result<Users> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the users file {}: {e}", path.display()))?;
        let mut hashes = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                anyhow::bail!(
                    "{} line {}: expected NAME:HASH (written by `fjq user add`)",
                    path.display(),
                    i + 1
                );
            };
            if PasswordHash::new(hash).is_err() {
                anyhow::bail!(
                    "{} line {}: the hash for {name} is not a password hash (written by `fjq user add`)",
                    path.display(),
                    i + 1
                );
            }
            hashes.insert(name.to_string(), hash.to_string());
        }
        Ok(Users { hashes })
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether `password` is `user`'s. Unknown users cost a hash too, so timing does not tell
    /// which names exist.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
        let (hash, known) = match self.hashes.get(user) {
            Some(h) => (h.as_str(), true),
            None => (dummy.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// `fjq user add NAME --users FILE`: adds or replaces NAME with the password read from stdin.
pub fn add_user(name: &str, file: &Path, password: &str) -> anyhow::Result<bool> {
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
        anyhow::bail!("a user name must be non-empty, without ':' or spaces");
    }
    if password.is_empty() {
        anyhow::bail!("the password (read from standard input) is empty");
    }
    let hash = hash_password(password)?;
    let existing = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
    };
    let mut replaced = false;
    let mut lines: Vec<String> = Vec::new();
    for line in existing.lines() {
        if line.split_once(':').is_some_and(|(n, _)| n == name) {
            lines.push(format!("{name}:{hash}"));
            replaced = true;
        } else {
            lines.push(line.to_string());
        }
    }
    if !replaced {
        lines.push(format!("{name}:{hash}"));
    }
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, lines.join("\n") + "\n")
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, file)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    Ok(replaced)
}

/// Bearer tokens issued by the handshake.
#[derive(Debug, Default)]
pub struct Tokens {
    live: Mutex<HashMap<String, (String, Instant)>>,
}

impl Tokens {
    pub fn issue(&self, user: &str) -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let mut live = self.live.lock().expect("tokens lock");
        let now = Instant::now();
        live.retain(|_, (_, issued)| now.duration_since(*issued) < TOKEN_LIFETIME);
        live.insert(token.clone(), (user.to_string(), now));
        token
    }

    /// The user a token belongs to, if it is live.
    pub fn user(&self, token: &str) -> Option<String> {
        let live = self.live.lock().ok()?;
        let (user, issued) = live.get(token)?;
        (issued.elapsed() < TOKEN_LIFETIME).then(|| user.clone())
    }
}

/// Basic authentication's `user:password`, from standard base64 (RFC 4648).
pub fn base64_decode(text: &str) -> Option<String> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    // Padding optional: the Go Flight client (ADBC's driver) sends basic credentials unpadded.
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = LENIENT.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(
            base64_decode("YWxpY2U6czNjcmV0").as_deref(),
            Some("alice:s3cret")
        );
        assert_eq!(base64_decode("YQ==").as_deref(), Some("a"));
        // Unpadded, as the Go client sends "alice:pw".
        assert_eq!(base64_decode("YWxpY2U6cHc").as_deref(), Some("alice:pw"));
        assert_eq!(base64_decode("YWxpY2U6cHc=").as_deref(), Some("alice:pw"));
        assert_eq!(base64_decode("***"), None);
    }

    #[test]
    fn users_are_stored_hashed_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        assert!(!add_user("alice", &file, "correct horse").unwrap());
        assert!(add_user("alice", &file, "battery staple").unwrap());
        add_user("bob", &file, "s3cret").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("battery") && !text.contains("s3cret"));
        assert!(text.contains("alice:$argon2id$"));
        let users = Users::load(&file).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.verify("alice", "battery staple"));
        assert!(!users.verify("alice", "correct horse"));
        assert!(!users.verify("carol", "s3cret"));
        assert!(add_user("bad:name", &file, "x").is_err());
    }

    #[test]
    fn tokens_name_their_user() {
        let tokens = Tokens::default();
        let t = tokens.issue("alice");
        assert_eq!(t.len(), 64);
        assert_eq!(tokens.user(&t).as_deref(), Some("alice"));
        assert_eq!(tokens.user("forged"), None);
    }
}
