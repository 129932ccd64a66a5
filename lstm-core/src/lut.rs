//! Table activations for the q8 dtype: `sigmoid` by linear interpolation in
//! a table of 513 values, and `tanh` from it, each a handful of exact f32
//! operations in a fixed order so every kernel gives the same bits.
//!
//! A q8 step spends most of its non-matrix time in the activations; the
//! exp-based [`crate::math::sigmoid`] and [`crate::math::tanh`] (a
//! degree-7 polynomial and an IEEE division, ~58 Cortex-M4 cycles each)
//! cost about as much as the int8 products at hidden 64. Quantized LSTMs
//! elsewhere (CMSIS-NN, TFLite Micro) use tables; so does this crate's q8
//! dtype (f32 models keep the exp-based functions).
//!
//! The definition, over the caller's fused multiply-add `fma`:
//!
//! ```text
//! T[k]  = σ(−16 + k/16) rounded to f32, k = 0..=512        (SIGMOID_TABLE)
//! x'    = min(max(x, −16), 16)      NaN → −16 (so σ(NaN) = T[0])
//! t     = fma(x', 16, 256)          in [0, 512]
//! i     = min(trunc(t), 511)        f = t − i (exact)
//! σ(x) ≈ fma(f, T[i+1] − T[i], T[i])
//! tanh(x) ≈ fma(2, σ_table(2x), −1)
//! ```
//!
//! Errors against f64 (the unit tests sweep them): sigmoid at most
//! [`SIGMOID_TABLE_MAX_ERROR`] absolute (linear interpolation with step
//! 1/16: `max|σ''|/8 · 16⁻² ≈ 4.7e-5`, plus the clamp's `σ(−16) ≈ 1.1e-7`),
//! tanh at most [`TANH_TABLE_MAX_ERROR`] (twice sigmoid's at `2x`).

use crate::kernels::{Arch, Portable};

/// The largest absolute difference of [`sigmoid_table`] from the f64 sigmoid over all f32 inputs.
pub const SIGMOID_TABLE_MAX_ERROR: f32 = 5e-5;

/// The largest absolute difference of [`tanh_table`] from the f64 tanh over all f32 inputs.
pub const TANH_TABLE_MAX_ERROR: f32 = 1e-4;

/// The table's lowest abscissa: inputs are clamped to `[-LIMIT, LIMIT]`.
pub const LIMIT: f32 = 16.0;

/// Table entries per unit of `x`.
pub const STEPS_PER_UNIT: f32 = 16.0;

/// The number of interpolation intervals (the table has one more entry).
pub const INTERVALS: usize = 512;

/// `σ(−16 + k/16)` for `k = 0..=512`, each the f64 sigmoid rounded to f32 (bit patterns).
const SIGMOID_BITS: [u32; INTERVALS + 1] = [
    0x33f1aadc, 0x3400a077, 0x3408ec2b, 0x3411c0d6, 0x341b274f, 0x342528fc, 0x342fcfdf, 0x343b26a1,
    0x3447389a, 0x345411db, 0x3461bf40, 0x34704e77, 0x347fce10, 0x348826c6, 0x3490eeb7, 0x349a47a2,
    0x34a43ae2, 0x34aed26a, 0x34ba18d3, 0x34c61965, 0x34d2e020, 0x34e079cd, 0x34eef406, 0x34fe5d47,
    0x3507627d, 0x35101dc5, 0x35196936, 0x35234e1d, 0x352dd660, 0x35390c88, 0x3544fbcb, 0x3551b01b,
    0x355f362c, 0x356d9b85, 0x357cee8e, 0x35869f4d, 0x358f4dfe, 0x35988c08, 0x35a262ab, 0x35acdbbe,
    0x35b801bb, 0x35c3dfc9, 0x35d081c7, 0x35ddf457, 0x35ec44ef, 0x35fb81de, 0x3605dd32, 0x360e7f5d,
    0x3617b013, 0x36217886, 0x362be27e, 0x3636f867, 0x3642c557, 0x364f551c, 0x365cb447, 0x366af039,
    0x367a172d, 0x36851c26, 0x368db1dd, 0x3696d551, 0x36a08fa6, 0x36aaea98, 0x36b5f082, 0x36c1ac6a,
    0x36ce2a0f, 0x36db75ee, 0x36e99d53, 0x36f8ae69, 0x37045c20, 0x370ce572, 0x3715fbb4, 0x371fa7fd,
    0x3729f3fb, 0x3734e9f9, 0x374094ef, 0x374d0088, 0x375a3931, 0x37684c23, 0x37774772, 0x37839d0d,
    0x378c1a08, 0x37952326, 0x379ec172, 0x37a8fe8b, 0x37b3e4ad, 0x37bf7ec0, 0x37cbd85f, 0x37d8fde3,
    0x37e6fc72, 0x37f5e20d, 0x3802decc, 0x380b4f78, 0x38144b7c, 0x381ddbd4, 0x38280a10, 0x3832e05f,
    0x383e6997, 0x384ab142, 0x3857c3a8, 0x3865addb, 0x38747dc5, 0x3882211b, 0x388a857a, 0x38937462,
    0x389cf6c3, 0x38a7161f, 0x38b1dc95, 0x38bd54ea, 0x38c98a97, 0x38d689d1, 0x38e45f95, 0x38f319b9,
    0x3901637b, 0x3909bb7b, 0x39129d34, 0x391c1187, 0x392621e6, 0x3930d861, 0x393c3fac, 0x3948632d,
    0x39554f03, 0x3963101a, 0x3971b42d, 0x3980a4ef, 0x3988f05f, 0x3991c4af, 0x399b2ab1, 0x39a52bc7,
    0x39afd1ef, 0x39bb27ca, 0x39c738a9, 0x39d41096, 0x39e1bc65, 0x39f049b7, 0x39ffc713, 0x3a0821f6,
    0x3a10e859, 0x3a1a3f73, 0x3a243093, 0x3a2ec5a2, 0x3a3a092d, 0x3a46066a, 0x3a52c94b, 0x3a605e85,
    0x3a6ed39c, 0x3a7e36f4, 0x3a874bed, 0x3a90034c, 0x3a994a41, 0x3aa32a03, 0x3aadac60, 0x3ab8dbc7,
    0x3ac4c351, 0x3ad16ecc, 0x3adeeac6, 0x3aed449a, 0x3afc8a7d, 0x3b0665c4, 0x3b0f0be8, 0x3b184033,
    0x3b220bbc, 0x3b2c782a, 0x3b378fc2, 0x3b435d6e, 0x3b4fecc9, 0x3b5d4a28, 0x3b6b82a6, 0x3b7aa430,
    0x3b855eca, 0x3b8def46, 0x3b970be5, 0x3ba0bd87, 0x3bab0d97, 0x3bb60616, 0x3bc1b1a4, 0x3bce1b86,
    0x3bdb4fb4, 0x3be95ae0, 0x3bf84a82, 0x3c041671, 0x3c0c8895, 0x3c1583b3, 0x3c1f104d, 0x3c293769,
    0x3c340294, 0x3c3f7bea, 0x3c4bae1f, 0x3c58a489, 0x3c666b21, 0x3c750e91, 0x3c824e1f, 0x3c8a9125,
    0x3c9357d1, 0x3c9caa03, 0x3ca69009, 0x3cb112a3, 0x3cbc3b0a, 0x3cc812ef, 0x3cd4a486, 0x3ce1fa88,
    0x3cf02034, 0x3cff2159, 0x3d07852a, 0x3d0ff40b, 0x3d18e414, 0x3d225c56, 0x3d2c642e, 0x3d37034a,
    0x3d4241a2, 0x3d4e277e, 0x3d5abd73, 0x3d680c60, 0x3d761d6b, 0x3d827d02, 0x3d8a55eb, 0x3d929e68,
    0x3d9b5b89, 0x3da49275, 0x3dae4868, 0x3db882ad, 0x3dc34695, 0x3dce9974, 0x3dda8099, 0x3de70147,
    0x3df420a9, 0x3e00f1e6, 0x3e0827c7, 0x3e0fb44e, 0x3e1799af, 0x3e1fd9f6, 0x3e287701, 0x3e317277,
    0x3e3acdc2, 0x3e448a07, 0x3e4ea820, 0x3e592891, 0x3e640b81, 0x3e6f50b8, 0x3e7af791, 0x3e837f7c,
    0x3e89b2b1, 0x3e901465, 0x3e96a358, 0x3e9d5e08, 0x3ea442b1, 0x3eab4f4f, 0x3eb2819d, 0x3eb9d71a,
    0x3ec14d03, 0x3ec8e05f, 0x3ed08e01, 0x3ed85287, 0x3ee02a67, 0x3ee811f0, 0x3ef00553, 0x3ef800ab,
    0x3f000000, 0x3f03ffab, 0x3f07fd56, 0x3f0bf708, 0x3f0feacd, 0x3f13d6bc, 0x3f17b900, 0x3f1b8fd0,
    0x3f1f597f, 0x3f231473, 0x3f26bf31, 0x3f2a5859, 0x3f2ddea8, 0x3f3150fc, 0x3f34ae54, 0x3f37f5cd,
    0x3f3b26a8, 0x3f3e4042, 0x3f41421c, 0x3f442bd2, 0x3f46fd20, 0x3f49b5dc, 0x3f4c55f8, 0x3f4edd7e,
    0x3f514c90, 0x3f53a362, 0x3f55e240, 0x3f580982, 0x3f5a1994, 0x3f5c12ec, 0x3f5df60e, 0x3f5fc387,
    0x3f617beb, 0x3f631fd7, 0x3f64afed, 0x3f662cd2, 0x3f67972d, 0x3f68efaa, 0x3f6a36f3, 0x3f6b6db1,
    0x3f6c948f, 0x3f6dac33, 0x3f6eb543, 0x3f6fb060, 0x3f709e29, 0x3f717f3a, 0x3f725429, 0x3f731d88,
    0x3f73dbe6, 0x3f748fcb, 0x3f7539bd, 0x3f75da3b, 0x3f7671bf, 0x3f7700bf, 0x3f7787ad, 0x3f7806f5,
    0x3f787efe, 0x3f78f02c, 0x3f795adc, 0x3f79bf69, 0x3f7a1e28, 0x3f7a776b, 0x3f7acb80, 0x3f7b1ab0,
    0x3f7b6541, 0x3f7bab77, 0x3f7bed8f, 0x3f7c2bc6, 0x3f7c6653, 0x3f7c9d6e, 0x3f7cd148, 0x3f7d0210,
    0x3f7d2ff6, 0x3f7d5b22, 0x3f7d83bf, 0x3f7da9f1, 0x3f7dcdde, 0x3f7defa6, 0x3f7e0f6b, 0x3f7e2d4a,
    0x3f7e4961, 0x3f7e63c9, 0x3f7e7c9d, 0x3f7e93f4, 0x3f7ea9e5, 0x3f7ebe85, 0x3f7ed1e8, 0x3f7ee421,
    0x3f7ef542, 0x3f7f055c, 0x3f7f147d, 0x3f7f22b6, 0x3f7f3013, 0x3f7f3ca3, 0x3f7f4870, 0x3f7f5388,
    0x3f7f5df4, 0x3f7f67c0, 0x3f7f70f4, 0x3f7f799a, 0x3f7f81bb, 0x3f7f895e, 0x3f7f908b, 0x3f7f9749,
    0x3f7f9d9e, 0x3f7fa392, 0x3f7fa92a, 0x3f7fae6b, 0x3f7fb35b, 0x3f7fb7fe, 0x3f7fbc5a, 0x3f7fc072,
    0x3f7fc44b, 0x3f7fc7e8, 0x3f7fcb4e, 0x3f7fce7e, 0x3f7fd17e, 0x3f7fd44f, 0x3f7fd6f4, 0x3f7fd970,
    0x3f7fdbc6, 0x3f7fddf8, 0x3f7fe007, 0x3f7fe1f7, 0x3f7fe3c8, 0x3f7fe57e, 0x3f7fe719, 0x3f7fe89b,
    0x3f7fea06, 0x3f7feb5b, 0x3f7fec9b, 0x3f7fedc7, 0x3f7feee2, 0x3f7fefeb, 0x3f7ff0e5, 0x3f7ff1cf,
    0x3f7ff2ab, 0x3f7ff37a, 0x3f7ff43c, 0x3f7ff4f2, 0x3f7ff59e, 0x3f7ff63f, 0x3f7ff6d6, 0x3f7ff764,
    0x3f7ff7ea, 0x3f7ff867, 0x3f7ff8dd, 0x3f7ff94c, 0x3f7ff9b4, 0x3f7ffa15, 0x3f7ffa71, 0x3f7ffac7,
    0x3f7ffb18, 0x3f7ffb64, 0x3f7ffbac, 0x3f7ffbef, 0x3f7ffc2e, 0x3f7ffc69, 0x3f7ffca1, 0x3f7ffcd5,
    0x3f7ffd06, 0x3f7ffd34, 0x3f7ffd60, 0x3f7ffd89, 0x3f7ffdaf, 0x3f7ffdd3, 0x3f7ffdf5, 0x3f7ffe14,
    0x3f7ffe32, 0x3f7ffe4e, 0x3f7ffe68, 0x3f7ffe81, 0x3f7ffe98, 0x3f7ffeae, 0x3f7ffec2, 0x3f7ffed6,
    0x3f7ffee8, 0x3f7ffef9, 0x3f7fff09, 0x3f7fff18, 0x3f7fff26, 0x3f7fff33, 0x3f7fff3f, 0x3f7fff4b,
    0x3f7fff56, 0x3f7fff60, 0x3f7fff6a, 0x3f7fff73, 0x3f7fff7c, 0x3f7fff84, 0x3f7fff8b, 0x3f7fff92,
    0x3f7fff99, 0x3f7fff9f, 0x3f7fffa5, 0x3f7fffab, 0x3f7fffb0, 0x3f7fffb5, 0x3f7fffb9, 0x3f7fffbd,
    0x3f7fffc1, 0x3f7fffc5, 0x3f7fffc9, 0x3f7fffcc, 0x3f7fffcf, 0x3f7fffd2, 0x3f7fffd5, 0x3f7fffd8,
    0x3f7fffda, 0x3f7fffdc, 0x3f7fffdf, 0x3f7fffe1, 0x3f7fffe2, 0x3f7fffe4, 0x3f7fffe6, 0x3f7fffe8,
    0x3f7fffe9, 0x3f7fffea, 0x3f7fffec, 0x3f7fffed, 0x3f7fffee, 0x3f7fffef, 0x3f7ffff0, 0x3f7ffff1,
    0x3f7ffff2, 0x3f7ffff3, 0x3f7ffff4, 0x3f7ffff4, 0x3f7ffff5, 0x3f7ffff6, 0x3f7ffff6, 0x3f7ffff7,
    0x3f7ffff8, 0x3f7ffff8, 0x3f7ffff9, 0x3f7ffff9, 0x3f7ffff9, 0x3f7ffffa, 0x3f7ffffa, 0x3f7ffffb,
    0x3f7ffffb, 0x3f7ffffb, 0x3f7ffffb, 0x3f7ffffc, 0x3f7ffffc, 0x3f7ffffc, 0x3f7ffffc, 0x3f7ffffd,
    0x3f7ffffd, 0x3f7ffffd, 0x3f7ffffd, 0x3f7ffffd, 0x3f7ffffe, 0x3f7ffffe, 0x3f7ffffe, 0x3f7ffffe,
    0x3f7ffffe,
];

/// The sigmoid table as f32 values (`σ(−16 + k/16)`, `k = 0..=512`): the table every kernel reads.
pub static SIGMOID_TABLE: [f32; INTERVALS + 1] = {
    let mut t = [0.0f32; INTERVALS + 1];
    let mut k = 0;
    while k <= INTERVALS {
        t[k] = f32::from_bits(SIGMOID_BITS[k]);
        k += 1;
    }
    t
};

/// [`SIGMOID_TABLE`] and a copy of its last entry: a kernel may read
/// `T[512]` with `f = 0` where the definition reads `T[511]` with `f = 1`
/// (the same value, as `T[512] − T[511]` is exact), and then `T[513]`.
pub static SIGMOID_TABLE_PADDED: [f32; INTERVALS + 2] = {
    let mut t = [0.0f32; INTERVALS + 2];
    let mut k = 0;
    while k <= INTERVALS {
        t[k] = f32::from_bits(SIGMOID_BITS[k]);
        k += 1;
    }
    t[INTERVALS + 1] = t[INTERVALS];
    t
};

/// Sigmoid by the table (see the module docs), with the portable `fma`.
#[inline]
pub fn sigmoid_table(x: f32) -> f32 {
    sigmoid_table_with(Portable, x)
}

/// Tanh by the sigmoid table, `fma(2, σ_table(2x), −1)`, with the portable `fma`.
#[inline]
pub fn tanh_table(x: f32) -> f32 {
    tanh_table_with(Portable, x)
}

/// The interval index and the fraction of the (clamped) input, `(i, f)`
/// with `i ≤ 511` and `f = t − i` exact (see the module docs).
#[inline(always)]
pub(crate) fn table_position<A: Arch>(arch: A, x: f32) -> (usize, f32) {
    // Two selects (what `f32::max` and `f32::min` compute here, without
    // their NaN handling calls): NaN fails the first test and maps to
    // -LIMIT (`clamp` would keep the NaN).
    let x = if x > -LIMIT { x } else { -LIMIT };
    let x = if x < LIMIT { x } else { LIMIT };
    let t = arch.fma(x, STEPS_PER_UNIT, LIMIT * STEPS_PER_UNIT);
    // t is in [0, 512]: the conversion truncates exactly.
    let i = (t as u32).min(INTERVALS as u32 - 1);
    (i as usize, t - i as f32)
}

/// [`sigmoid_table`] over `arch`'s fused multiply-add.
#[inline(always)]
pub(crate) fn sigmoid_table_with<A: Arch>(arch: A, x: f32) -> f32 {
    let (i, f) = table_position(arch, x);
    let lo = SIGMOID_TABLE[i];
    let hi = SIGMOID_TABLE[i + 1];
    arch.fma(f, hi - lo, lo)
}

/// [`tanh_table`] over `arch`'s fused multiply-add.
#[inline(always)]
pub(crate) fn tanh_table_with<A: Arch>(arch: A, x: f32) -> f32 {
    arch.fma(2.0, sigmoid_table_with(arch, 2.0 * x), -1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::tests::sweep;

    fn sigmoid64(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn every_entry_is_the_f64_sigmoid_rounded_to_f32() {
        for (k, &v) in SIGMOID_TABLE.iter().enumerate() {
            let x = -16.0 + k as f64 / 16.0;
            assert_eq!(v.to_bits(), (sigmoid64(x) as f32).to_bits(), "entry {k}");
        }
    }

    #[test]
    fn the_padded_table_repeats_the_last_entry_and_differences_are_exact() {
        assert_eq!(SIGMOID_TABLE_PADDED[..=INTERVALS], SIGMOID_TABLE[..]);
        assert_eq!(
            SIGMOID_TABLE_PADDED[INTERVALS + 1],
            SIGMOID_TABLE[INTERVALS]
        );
        // f = 1 on interval i gives T[i + 1] exactly.
        for w in SIGMOID_TABLE.windows(2) {
            assert_eq!(libm::fmaf(1.0, w[1] - w[0], w[0]), w[1]);
        }
    }

    #[test]
    fn errors_are_within_the_stated_bounds() {
        let (mut ws, mut wt) = (0.0f64, 0.0f64);
        for x in sweep(-40.0, 40.0, 97) {
            let xd = f64::from(x);
            ws = ws.max((f64::from(sigmoid_table(x)) - sigmoid64(xd)).abs());
            wt = wt.max((f64::from(tanh_table(x)) - xd.tanh()).abs());
        }
        assert!(ws <= f64::from(SIGMOID_TABLE_MAX_ERROR), "sigmoid {ws:e}");
        assert!(wt <= f64::from(TANH_TABLE_MAX_ERROR), "tanh {wt:e}");
        // Near the bounds: the worst errors are not far below them.
        assert!(ws > 4e-5 && wt > 8e-5, "sigmoid {ws:e}, tanh {wt:e}");
    }

    #[test]
    fn known_values_and_edges() {
        // Grid points give the table entries exactly.
        assert_eq!(sigmoid_table(0.0), 0.5);
        assert_eq!(tanh_table(0.0), 0.0);
        assert_eq!(sigmoid_table(-16.0), SIGMOID_TABLE[0]);
        assert_eq!(sigmoid_table(16.0), SIGMOID_TABLE[512]);
        assert_eq!(sigmoid_table(1.0), SIGMOID_TABLE[272]);
        // Beyond the range: the end values; NaN as -16.
        for x in [16.5f32, 1e30, f32::INFINITY] {
            assert_eq!(sigmoid_table(x), SIGMOID_TABLE[512], "{x}");
            assert_eq!(sigmoid_table(-x), SIGMOID_TABLE[0], "{x}");
            assert_eq!(tanh_table(x), tanh_table(8.0), "{x}");
        }
        assert_eq!(sigmoid_table(f32::NAN), SIGMOID_TABLE[0]);
        assert_eq!(tanh_table(f32::NAN), tanh_table(-8.0));
        // Tiny inputs land on the middle entry.
        assert_eq!(sigmoid_table(1e-30), 0.5);
        assert_eq!(tanh_table(-1e-30), 0.0);
        // Monotone.
        let mut last = -1.0f32;
        for x in sweep(-20.0, 20.0, 3001) {
            let s = sigmoid_table(x);
            assert!(s >= last, "not monotone at {x}");
            last = s;
        }
    }
}
