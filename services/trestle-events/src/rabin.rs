//! CRC-64-AVRO: the 64-bit Rabin fingerprint the Avro spec defines for schema fingerprints.
//!
//! Written from the spec's reference algorithm rather than taken from the Avro library, so the
//! header we put on every record depends only on the spec.

/// The spec's `EMPTY` constant: the fingerprint of zero bytes and the generator polynomial.
/// Never change it: every record ever written carries fingerprints computed with it.
pub const EMPTY: u64 = 0xc15d_213a_a4d7_a795;

/// Table of the fingerprint of each byte value, computed at compile time as in the spec.
const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut j = 0;
        while j < 8 {
            fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            j += 1;
        }
        table[i] = fp;
        i += 1;
    }
    table
};

/// CRC-64-AVRO fingerprint of `bytes` (for a schema: of its Parsing Canonical Form).
pub fn crc64_avro(bytes: &[u8]) -> u64 {
    let mut fp = EMPTY;
    for &b in bytes {
        fp = (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize];
    }
    fp
}
