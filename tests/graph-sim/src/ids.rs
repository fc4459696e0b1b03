//! Reversible, random-looking GUIDs. An id encodes what it names (tenant, kind, day, index) under a keyed Feistel
//! permutation plus a check value, so the simulator can regenerate any object from its id alone and tell a
//! forged or foreign id (404) from a real one.

use crate::rng::mix;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Tenant = 0,
    User = 1,
    CallRecord = 2,
    PstnRow = 3,
    DirectRoutingRow = 4,
    Session = 5,
    Segment = 6,
    Subscription = 7,
    RequestId = 8,
    Sku = 9,
}

impl IdKind {
    fn from_bits(bits: u64) -> Option<Self> {
        Some(match bits {
            0 => Self::Tenant,
            1 => Self::User,
            2 => Self::CallRecord,
            3 => Self::PstnRow,
            4 => Self::DirectRoutingRow,
            5 => Self::Session,
            6 => Self::Segment,
            7 => Self::Subscription,
            8 => Self::RequestId,
            9 => Self::Sku,
            _ => return None,
        })
    }
}

/// The decoded content of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdParts {
    pub kind: IdKind,
    /// Tenant number (0..=255).
    pub tenant: u8,
    /// Days since 1970-01-01 (0..2^20), or a sub-index for sessions and segments.
    pub day: u32,
    pub index: u32,
}

impl IdParts {
    fn pack(self) -> u64 {
        (u64::from(self.tenant) << 56)
            | (u64::from(self.day & 0xF_FFFF) << 36)
            | ((self.kind as u64) << 32)
            | u64::from(self.index)
    }

    fn unpack(value: u64) -> Option<Self> {
        Some(Self {
            kind: IdKind::from_bits((value >> 32) & 0xF)?,
            tenant: (value >> 56) as u8,
            day: ((value >> 36) & 0xF_FFFF) as u32,
            index: value as u32,
        })
    }
}

/// Encodes and decodes ids for one simulator seed.
#[derive(Debug, Clone, Copy)]
pub struct IdCodec {
    key: u64,
}

const ROUNDS: u64 = 4;

impl IdCodec {
    pub fn new(seed: u64) -> Self {
        Self { key: mix(seed ^ 0x5ea5_1de5_0000_0001) }
    }

    fn round(&self, half: u32, round: u64) -> u32 {
        mix(u64::from(half) ^ self.key.wrapping_add(round.wrapping_mul(0x9e37_79b9))) as u32
    }

    fn encrypt(&self, value: u64) -> u64 {
        let (mut left, mut right) = ((value >> 32) as u32, value as u32);
        for round in 0..ROUNDS {
            let next = left ^ self.round(right, round);
            left = right;
            right = next;
        }
        (u64::from(left) << 32) | u64::from(right)
    }

    fn decrypt(&self, value: u64) -> u64 {
        let (mut left, mut right) = ((value >> 32) as u32, value as u32);
        for round in (0..ROUNDS).rev() {
            let previous = right ^ self.round(left, round);
            right = left;
            left = previous;
        }
        (u64::from(left) << 32) | u64::from(right)
    }

    fn check(&self, hi: u64) -> u64 {
        mix(hi ^ self.key.rotate_left(17))
    }

    /// The GUID for `parts`, lower-case as Graph writes ids.
    pub fn encode(&self, parts: IdParts) -> String {
        let hi = self.encrypt(parts.pack());
        let lo = self.check(hi);
        let hex = format!("{hi:016x}{lo:016x}");
        format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
    }

    /// The parts of a GUID this codec made, or `None` for any other string.
    pub fn decode(&self, id: &str) -> Option<IdParts> {
        let hex: String = id.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 || id.len() != 36 {
            return None;
        }
        let hi = u64::from_str_radix(&hex[0..16], 16).ok()?;
        let lo = u64::from_str_radix(&hex[16..32], 16).ok()?;
        if self.check(hi) != lo {
            return None;
        }
        IdParts::unpack(self.decrypt(hi))
    }

    pub fn tenant(&self, tenant: u8) -> String {
        self.encode(IdParts { kind: IdKind::Tenant, tenant, day: 0, index: 0 })
    }

    pub fn user(&self, tenant: u8, index: u32) -> String {
        self.encode(IdParts { kind: IdKind::User, tenant, day: 0, index })
    }

    pub fn call(&self, tenant: u8, day: u32, index: u32) -> String {
        self.encode(IdParts { kind: IdKind::CallRecord, tenant, day, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_others() {
        let codec = IdCodec::new(42);
        let parts = IdParts { kind: IdKind::CallRecord, tenant: 3, day: 20_600, index: 123_456 };
        let id = codec.encode(parts);
        assert_eq!(id.len(), 36);
        assert_eq!(codec.decode(&id), Some(parts));
        assert_eq!(IdCodec::new(43).decode(&id), None, "another seed's ids are foreign");
        let mut forged = id.clone();
        forged.replace_range(0..1, if id.starts_with('0') { "1" } else { "0" });
        assert_eq!(codec.decode(&forged), None);
        assert_eq!(codec.decode("e523d2ed-2966-4b6b-925b-754a88034cc5"), None);
    }

    #[test]
    fn consecutive_indexes_do_not_look_consecutive() {
        let codec = IdCodec::new(1);
        let a = codec.user(0, 1);
        let b = codec.user(0, 2);
        assert_ne!(a[..8], b[..8]);
    }
}
