//! The authenticated envelope around every membership datagram.
//!
//! Layout: one version byte, the SWIM payload, then HMAC-SHA256(key, version || payload).
//! Without the key a host on the network can neither join the group nor declare a speaker
//! dead (which would move its addresses). Replayed datagrams are left to SWIM itself: their
//! incarnation numbers are stale.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The envelope format this build writes and reads.
pub const VERSION: u8 = 1;
/// Length of the authentication tag.
pub const TAG_LEN: usize = 32;
/// Bytes the envelope adds to a payload.
pub const OVERHEAD: usize = 1 + TAG_LEN;
/// The largest datagram sent or accepted: below a 1500-byte MTU with IPv6 and UDP headers.
pub const MAX_DATAGRAM_LEN: usize = 1400;
/// The largest SWIM payload that fits in one datagram.
pub const MAX_PAYLOAD_LEN: usize = MAX_DATAGRAM_LEN - OVERHEAD;
/// The shortest key accepted.
pub const MIN_KEY_LEN: usize = 16;

/// Why a datagram was refused; each reason has a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthError {
    /// Shorter than a version byte and a tag.
    #[error("datagram too short for an envelope")]
    Truncated,
    /// Longer than [`MAX_DATAGRAM_LEN`], or a payload longer than [`MAX_PAYLOAD_LEN`].
    #[error("datagram too large")]
    TooLarge,
    /// Written by a speaker with an envelope format this one does not know.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// The tag does not match: another key, or altered on the way.
    #[error("authentication tag mismatch")]
    BadTag,
}

impl AuthError {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            AuthError::Truncated => "truncated",
            AuthError::TooLarge => "too_large",
            AuthError::UnsupportedVersion(_) => "unsupported_version",
            AuthError::BadTag => "bad_tag",
        }
    }
}

/// The shared secret of the membership group.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey(Vec<u8>);

/// The key is shorter than [`MIN_KEY_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("membership key is {0} bytes, at least {MIN_KEY_LEN} are required")]
pub struct KeyTooShort(pub usize);

impl AuthKey {
    /// Wrap a secret of at least [`MIN_KEY_LEN`] bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, KeyTooShort> {
        let secret = secret.into();
        if secret.len() < MIN_KEY_LEN {
            return Err(KeyTooShort(secret.len()));
        }
        Ok(AuthKey(secret))
    }

    fn mac(&self, version: u8, payload: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length, so this never fails.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(&[version]);
        mac.update(payload);
        mac
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey({} bytes)", self.0.len())
    }
}

/// Wrap `payload` in an envelope authenticated with `key`.
pub fn seal(key: &AuthKey, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(AuthError::TooLarge);
    }
    let tag = key.mac(VERSION, payload).finalize().into_bytes();
    let mut datagram = Vec::with_capacity(OVERHEAD + payload.len());
    datagram.push(VERSION);
    datagram.extend_from_slice(payload);
    datagram.extend_from_slice(&tag);
    Ok(datagram)
}

/// Check the envelope with `key` and return the payload; the comparison is constant-time.
pub fn open<'a>(key: &AuthKey, datagram: &'a [u8]) -> Result<&'a [u8], AuthError> {
    if datagram.len() > MAX_DATAGRAM_LEN {
        return Err(AuthError::TooLarge);
    }
    if datagram.len() < OVERHEAD {
        return Err(AuthError::Truncated);
    }
    let (&version, rest) = datagram.split_first().ok_or(AuthError::Truncated)?;
    if version != VERSION {
        return Err(AuthError::UnsupportedVersion(version));
    }
    let (payload, tag) = rest.split_at(rest.len() - TAG_LEN);
    key.mac(version, payload)
        .verify_slice(tag)
        .map_err(|_| AuthError::BadTag)?;
    Ok(payload)
}

/// [`open`] with each key in turn, so the key can be rotated without a flag day; returns the
/// payload and the index of the key that opened it.
pub fn open_with_any<'a>(
    keys: &[AuthKey],
    datagram: &'a [u8],
) -> Result<(&'a [u8], usize), AuthError> {
    for (i, key) in keys.iter().enumerate() {
        match open(key, datagram) {
            Ok(payload) => return Ok((payload, i)),
            Err(AuthError::BadTag) => {}
            // Anything but a tag mismatch would fail the same way with every key.
            Err(error) => return Err(error),
        }
    }
    Err(AuthError::BadTag)
}

/// The group's keys: the first signs what this speaker sends, every one opens what it
/// receives. Rotating the key is adding the new one second, moving it first once every speaker
/// has it, and removing the old one once every speaker signs with the new (see the security
/// page of the docs).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<AuthKey>,
}

/// Why a key list cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// No key at all.
    #[error("no membership key")]
    Empty,
    /// One key is too short.
    #[error("membership key {position} of the list: {source}")]
    TooShort {
        /// 1-based position in the list.
        position: usize,
        /// Why.
        source: KeyTooShort,
    },
}

impl KeyRing {
    /// The keys listed in `text`, separated by whitespace (one per line in a Secret).
    pub fn parse(text: &[u8]) -> Result<Self, KeyRingError> {
        let keys = text
            .split(u8::is_ascii_whitespace)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, k)| {
                AuthKey::new(k.to_vec()).map_err(|source| KeyRingError::TooShort {
                    position: i + 1,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self { keys })
    }

    /// One key.
    pub fn single(key: AuthKey) -> Self {
        Self { keys: vec![key] }
    }

    /// How many keys open datagrams.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring holds at least one key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// A short public fingerprint of the signing key (the first 8 hex digits of its SHA-256),
    /// so operators can see which key each speaker signs with without seeing the key.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = Sha256::digest(&self.keys[0].0);
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// [`seal`] with the signing key.
    pub fn seal(&self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        seal(&self.keys[0], payload)
    }

    /// [`open_with_any`] over the ring: the payload, and whether the signing key opened it.
    pub fn open<'a>(&self, datagram: &'a [u8]) -> Result<(&'a [u8], bool), AuthError> {
        open_with_any(&self.keys, datagram).map(|(payload, i)| (payload, i == 0))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyRing({} keys, signing {})",
            self.keys.len(),
            self.fingerprint()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuthKey {
        AuthKey::new(*b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn other_key() -> AuthKey {
        AuthKey::new(*b"fedcba9876543210fedcba9876543210").unwrap()
    }

    #[test]
    fn round_trip() {
        let datagram = seal(&key(), b"ping").unwrap();
        assert_eq!(datagram.len(), 4 + OVERHEAD);
        assert_eq!(datagram[0], VERSION);
        assert_eq!(&datagram[1..5], b"ping");
        assert_eq!(open(&key(), &datagram), Ok(&b"ping"[..]));
    }

    #[test]
    fn empty_payload() {
        let datagram = seal(&key(), b"").unwrap();
        assert_eq!(open(&key(), &datagram), Ok(&b""[..]));
    }

    /// Pinned: a speaker built from another version must produce the same bytes.
    #[test]
    fn known_tag() {
        let datagram = seal(&key(), b"ping").unwrap();
        let hex: String = datagram[5..].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "f39861fa9f4c20839ca3e3a3b3134963811c49e99bf701e816bd2e279125ac81"
        );
    }

    #[test]
    fn wrong_key_is_rejected() {
        let datagram = seal(&key(), b"ping").unwrap();
        assert_eq!(open(&other_key(), &datagram), Err(AuthError::BadTag));
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let datagram = seal(&key(), b"suspect node-a").unwrap();
        for byte in 1..datagram.len() {
            for bit in 0..8 {
                let mut altered = datagram.clone();
                altered[byte] ^= 1 << bit;
                assert_eq!(
                    open(&key(), &altered),
                    Err(AuthError::BadTag),
                    "{byte}/{bit}"
                );
            }
        }
        let mut altered = datagram;
        altered[0] ^= 1;
        assert_eq!(
            open(&key(), &altered),
            Err(AuthError::UnsupportedVersion(0))
        );
    }

    #[test]
    fn truncated_tags_are_rejected() {
        let datagram = seal(&key(), b"ping").unwrap();
        for len in 0..datagram.len() {
            let expected = if len < OVERHEAD {
                AuthError::Truncated
            } else {
                AuthError::BadTag
            };
            assert_eq!(open(&key(), &datagram[..len]), Err(expected), "len {len}");
        }
    }

    #[test]
    fn size_is_bounded() {
        let largest = vec![7; MAX_PAYLOAD_LEN];
        let datagram = seal(&key(), &largest).unwrap();
        assert_eq!(datagram.len(), MAX_DATAGRAM_LEN);
        assert_eq!(
            open(&key(), &datagram).map(<[u8]>::len),
            Ok(MAX_PAYLOAD_LEN)
        );
        assert_eq!(
            seal(&key(), &[7; MAX_PAYLOAD_LEN + 1]),
            Err(AuthError::TooLarge)
        );
        assert_eq!(
            open(&key(), &[1; MAX_DATAGRAM_LEN + 1]),
            Err(AuthError::TooLarge)
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(AuthKey::new(*b"short"), Err(KeyTooShort(5)));
        assert_eq!(format!("{:?}", key()), "AuthKey(32 bytes)");
    }

    #[test]
    fn rotation_accepts_old_and_new_keys() {
        let keys = [other_key(), key()];
        let old = seal(&key(), b"ping").unwrap();
        assert_eq!(open_with_any(&keys, &old), Ok((&b"ping"[..], 1)));
        let stranger = AuthKey::new([9; 32]).unwrap();
        let foreign = seal(&stranger, b"ping").unwrap();
        assert_eq!(open_with_any(&keys, &foreign), Err(AuthError::BadTag));
        assert_eq!(open_with_any(&keys, &[VERSION]), Err(AuthError::Truncated));
        assert_eq!(open_with_any(&[], &old), Err(AuthError::BadTag));
    }

    #[test]
    fn labels() {
        assert_eq!(
            AuthError::UnsupportedVersion(9).label(),
            "unsupported_version"
        );
        assert_eq!(AuthError::BadTag.to_string(), "authentication tag mismatch");
    }

    #[test]
    fn a_key_ring_is_read_from_a_list_one_per_line() {
        let ring = KeyRing::parse(
            b"0123456789abcdef0123456789abcdef\n  fedcba9876543210fedcba9876543210\n\n",
        )
        .expect("two keys");
        assert_eq!(ring.len(), 2);
        assert_eq!(
            ring,
            KeyRing {
                keys: vec![key(), other_key()]
            }
        );
        assert_eq!(KeyRing::parse(b" \n"), Err(KeyRingError::Empty));
        assert_eq!(
            KeyRing::parse(b"0123456789abcdef0123456789abcdef\nshort"),
            Err(KeyRingError::TooShort {
                position: 2,
                source: KeyTooShort(5)
            })
        );
        // The fingerprint names the signing key only, and does not reveal it.
        let swapped = KeyRing {
            keys: vec![other_key(), key()],
        };
        assert_ne!(ring.fingerprint(), swapped.fingerprint());
        assert_eq!(ring.fingerprint(), KeyRing::single(key()).fingerprint());
        assert_eq!(ring.fingerprint().len(), 8);
    }

    #[test]
    fn each_step_of_a_rotation_talks_to_the_steps_next_to_it() {
        let steps = [
            KeyRing::single(key()),
            KeyRing {
                keys: vec![key(), other_key()],
            },
            KeyRing {
                keys: vec![other_key(), key()],
            },
            KeyRing::single(other_key()),
        ];
        // Speakers one step apart (the operator waits for every speaker to take a step before
        // the next) hear each other both ways; the first and the last do not.
        let hears = |from: &KeyRing, to: &KeyRing| to.open(&from.seal(b"ping").unwrap()).is_ok();
        for pair in steps.windows(2) {
            assert!(
                hears(&pair[0], &pair[1]) && hears(&pair[1], &pair[0]),
                "{pair:?}"
            );
        }
        assert!(!hears(&steps[0], &steps[3]) && !hears(&steps[3], &steps[0]));
        // Whether the receiver's signing key opened it: the operator's sign that the old key
        // is no longer used.
        assert_eq!(
            steps[1].open(&steps[2].seal(b"x").unwrap()),
            Ok((&b"x"[..], false))
        );
        assert_eq!(
            steps[2].open(&steps[2].seal(b"x").unwrap()),
            Ok((&b"x"[..], true))
        );
    }
}
