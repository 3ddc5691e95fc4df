//! The soak messages: a fixed header (who sent it, on which connection, its sequence number, when,
//! how long the body is, a checksum of all that and the body), then random bytes.

/// Header bytes, little-endian: client u32, connection u32, seq u64, sent_ns u64, body_len u32,
/// checksum u64 (FNV-1a 64 over the first 28 header bytes and the body).
pub const HEADER: usize = 36;

/// What a verified message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub client: u32,
    pub conn: u32,
    pub seq: u64,
    pub sent_ns: u64,
}

/// Why a message failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Shorter than the header.
    Short,
    /// The header's body length is not what arrived.
    Length,
    /// The checksum does not match.
    Checksum,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Appends the message for `stamp` with `body_len` random bytes from `rng` to `out`.
pub fn encode(out: &mut Vec<u8>, stamp: Stamp, body_len: usize, rng: &mut Rng) {
    let start = out.len();
    out.extend_from_slice(&stamp.client.to_le_bytes());
    out.extend_from_slice(&stamp.conn.to_le_bytes());
    out.extend_from_slice(&stamp.seq.to_le_bytes());
    out.extend_from_slice(&stamp.sent_ns.to_le_bytes());
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    let body_at = out.len() + 8;
    out.resize(body_at + body_len, 0);
    rng.fill(&mut out[body_at..]);
    let sum = fnv1a(fnv1a(FNV_OFFSET, &out[start..start + 28]), &out[body_at..]);
    out[start + 28..body_at].copy_from_slice(&sum.to_le_bytes());
}

/// Checks a received message and reads its header.
pub fn verify(msg: &[u8]) -> Result<Stamp, Bad> {
    if msg.len() < HEADER {
        return Err(Bad::Short);
    }
    let u32_at = |i: usize| u32::from_le_bytes(msg[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(msg[i..i + 8].try_into().expect("8 bytes"));
    if u32_at(24) as usize != msg.len() - HEADER {
        return Err(Bad::Length);
    }
    if fnv1a(fnv1a(FNV_OFFSET, &msg[..28]), &msg[HEADER..]) != u64_at(28) {
        return Err(Bad::Checksum);
    }
    Ok(Stamp {
        client: u32_at(0),
        conn: u32_at(4),
        seq: u64_at(8),
        sent_ns: u64_at(16),
    })
}

/// A small seeded generator (xorshift64*): the run is reproducible from `--seed`, and speed, not
/// quality, is what the payload bytes need.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `stream` under `seed` (different streams give unrelated sequences).
    pub fn new(seed: u64, stream: u64) -> Rng {
        // splitmix64 of the pair, never 0 (xorshift's fixed point)
        let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }

    /// A body length from 0 to `max`, log-uniform: as many messages of a few bytes as of a few
    /// hundred or a few thousand, so both the small-frame and the multi-segment paths are busy.
    pub fn body_len(&mut self, max: usize) -> usize {
        let v = ((max as f64 + 1.0).ln() * self.unit()).exp() - 1.0;
        (v as usize).min(max)
    }

    /// An exponentially distributed duration with the given mean, in seconds.
    pub fn exp_s(&mut self, mean_s: f64) -> f64 {
        -mean_s * (1.0 - self.unit()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_verifies_and_any_flipped_bit_is_caught() {
        let mut rng = Rng::new(7, 1);
        let stamp = Stamp {
            client: 3,
            conn: 9,
            seq: 123_456,
            sent_ns: 42,
        };
        for len in [0, 1, 7, 100, 5000] {
            let mut msg = Vec::new();
            encode(&mut msg, stamp, len, &mut rng);
            assert_eq!(msg.len(), HEADER + len);
            assert_eq!(verify(&msg), Ok(stamp));
            for bit in [0, 8 * 10, 8 * 30, 8 * msg.len() - 1] {
                let mut bad = msg.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(verify(&bad).is_err(), "len {len}, bit {bit}");
            }
            assert_eq!(
                verify(&msg[..msg.len() - 1]),
                Err(if len == 0 { Bad::Short } else { Bad::Length })
            );
        }
    }

    #[test]
    fn body_lengths_span_the_range_and_streams_differ() {
        let mut rng = Rng::new(1, 0);
        let lens: Vec<usize> = (0..20_000).map(|_| rng.body_len(32_768)).collect();
        assert!(lens.iter().all(|&l| l <= 32_768));
        assert!(lens.iter().filter(|&&l| l < 16).count() > 1000);
        assert!(lens.iter().filter(|&&l| l > 16_384).count() > 500);
        assert_ne!(Rng::new(1, 0).next_u64(), Rng::new(1, 1).next_u64());
        assert_eq!(Rng::new(5, 2).next_u64(), Rng::new(5, 2).next_u64());
    }
}
