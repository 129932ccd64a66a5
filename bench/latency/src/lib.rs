//! Shared bits of the bench helpers: deterministic random weights.

/// `n` values uniform in `[-scale, scale)`, from a xorshift32 stream seeded with `seed`.
pub fn weights(n: usize, seed: u32, scale: f32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}
