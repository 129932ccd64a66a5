//! The sampling rule, its seeded RNG, and the truncated (top-k / top-p) draw.

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg32;

use crate::{Error, Kernel};

/// How to pick the next symbol from the logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature; 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the `top_k` most probable symbols; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most probable symbols whose mass reaches `top_p`; 1 keeps all.
    pub top_p: f32,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

impl SamplerConfig {
    /// Checks `temperature` is finite and not negative and `top_p` is in `(0, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidSampling`] naming the setting.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::InvalidSampling {
                setting: "temperature must be finite and >= 0",
            });
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::InvalidSampling {
                setting: "top-p must be in (0, 1]",
            });
        }
        Ok(())
    }
}

/// A sampling rule and its seeded random number generator (PCG32).
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplerConfig,
    rng: Pcg32,
}

impl Sampler {
    /// Creates a sampler; the same seed gives the same draws on every target.
    ///
    /// # Errors
    /// As [`SamplerConfig::validate`].
    pub fn new(config: SamplerConfig, seed: u64) -> Result<Self, Error> {
        config.validate()?;
        Ok(Sampler {
            config,
            rng: Pcg32::seed_from_u64(seed),
        })
    }

    /// The sampling rule.
    pub fn config(&self) -> SamplerConfig {
        self.config
    }

    /// A uniform draw in `[0, 1)` with 24 random bits.
    pub fn coin(&mut self) -> f32 {
        (self.rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Picks a symbol from `logits`, which it overwrites with the probabilities
    /// (unless greedy); `order` is scratch of at least `logits.len()` entries.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if `order` is too short or `logits` is empty.
    pub fn sample(
        &mut self,
        kernel: Kernel,
        logits: &mut [f32],
        order: &mut [u16],
    ) -> Result<usize, Error> {
        if logits.is_empty() {
            return Err(Error::BufferTooSmall {
                needed: 1,
                available: 0,
            });
        }
        if self.config.temperature == 0.0 {
            return Ok(sample_argmax(logits));
        }
        kernel.softmax(logits, self.config.temperature);
        let n = logits.len();
        let keeps_all =
            (self.config.top_k == 0 || self.config.top_k >= n) && self.config.top_p >= 1.0;
        let coin = self.coin();
        if keeps_all {
            return Ok(sample_multinomial(logits, coin));
        }
        let available = order.len();
        let order = order.get_mut(..n).ok_or(Error::BufferTooSmall {
            needed: n,
            available,
        })?;
        Ok(sample_truncated(
            logits,
            order,
            self.config.top_k,
            self.config.top_p,
            coin,
        ))
    }
}

/// Index of the largest value (the first one on ties).
pub fn sample_argmax(v: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &x) in v.iter().enumerate() {
        if x > best_v {
            best = i;
            best_v = x;
        }
    }
    best
}

/// Index `i` where the running sum of `probs` first exceeds `coin · total`.
pub fn sample_multinomial(probs: &[f32], coin: f32) -> usize {
    let mut total = 0.0f32;
    for &p in probs {
        total += p;
    }
    let target = coin * total;
    let mut cdf = 0.0f32;
    for (i, &p) in probs.iter().enumerate() {
        cdf += p;
        if target < cdf {
            return i;
        }
    }
    // Rounding left the target at the very top: take the last symbol with mass.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

/// Samples among the `top_k` most probable symbols (0 = all), cut further to
/// the smallest prefix whose probability reaches `top_p`.
///
/// `order` (scratch, same length as `probs`) is left holding symbol indices
/// sorted by decreasing probability, ties by index.
pub fn sample_truncated(
    probs: &[f32],
    order: &mut [u16],
    top_k: usize,
    top_p: f32,
    coin: f32,
) -> usize {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u16;
    }
    let p = |i: u16| probs.get(usize::from(i)).copied().unwrap_or(0.0);
    // A total order (probability down, then index up), so any correct sort
    // gives the same `order`; heapsort is a few hundred bytes of code where
    // `sort_unstable_by` is several kilobytes (it matters in flash).
    heapsort(order, |a, b| p(b).total_cmp(&p(a)).then(a.cmp(&b)).is_lt());
    let k = if top_k == 0 {
        order.len()
    } else {
        top_k.min(order.len())
    };
    let mut kept = 0;
    let mut mass = 0.0f32;
    for &i in order.iter().take(k) {
        mass += p(i);
        kept += 1;
        if mass >= top_p {
            break;
        }
    }
    let target = coin * mass;
    let mut cdf = 0.0f32;
    for &i in order.iter().take(kept) {
        cdf += p(i);
        if target < cdf {
            return usize::from(i);
        }
    }
    order
        .get(kept.saturating_sub(1))
        .map_or(0, |&i| usize::from(i))
}

/// Sorts `v` so that `less(a, b)` never holds for `a` after `b`; in place,
/// O(n log n), no allocation.
fn heapsort(v: &mut [u16], less: impl Fn(u16, u16) -> bool) {
    // Moves v[root] down until the max-heap property holds within v[..end].
    let sift_down = |v: &mut [u16], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(v[child], v[child + 1]) {
            child += 1;
        }
        if !less(v[root], v[child]) {
            break;
        }
        v.swap(root, child);
        root = child;
    };
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

#[cfg(test)]
mod heapsort_tests {
    use super::heapsort;

    #[test]
    fn sorts_like_the_standard_sort() {
        let mut s = 0x9E37_79B9u32;
        for n in 0..200usize {
            let keys: Vec<u16> = (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    (s % 7) as u16
                })
                .collect();
            let mut order: Vec<u16> = (0..n as u16).collect();
            let mut expected = order.clone();
            let key = |i: u16| keys[usize::from(i)];
            expected.sort_unstable_by(|&a, &b| key(b).cmp(&key(a)).then(a.cmp(&b)));
            heapsort(&mut order, |a, b| {
                key(b).cmp(&key(a)).then(a.cmp(&b)).is_lt()
            });
            assert_eq!(order, expected, "n = {n}");
        }
    }
}
