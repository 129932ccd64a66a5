//! Text output without `core::fmt`: strings, whole numbers, hex, ratios.
//!
//! `core::fmt` with its padding, `Debug` builders and Unicode tables takes
//! several kilobytes of flash; the firmware prints only these few shapes.

/// Somewhere to write bytes (semihosting, a UART, a test buffer).
pub trait Out {
    /// Writes `bytes`.
    fn bytes(&mut self, bytes: &[u8]);

    /// Writes `s`.
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// Writes `s` then a newline.
    fn line(&mut self, s: &str) {
        self.str(s);
        self.bytes(b"\n");
    }

    /// Writes `n` in decimal.
    fn u64(&mut self, n: u64) {
        let mut buf = [0u8; 24];
        self.bytes(decimal(n, &mut buf));
    }

    /// Writes `n` as `0x` and 8 hex digits.
    fn hex32(&mut self, n: u32) {
        let mut buf = [0u8; 10];
        self.bytes(hex32(n, &mut buf));
    }

    /// Writes `num / den` with three decimals (`n/a` if `den` is 0).
    fn ratio(&mut self, num: u64, den: u64) {
        let mut buf = [0u8; 24];
        self.bytes(ratio(num, den, &mut buf));
    }
}

/// `n` as `0x` and 8 hex digits.
#[inline(never)]
pub fn hex32(n: u32, buf: &mut [u8; 10]) -> &[u8] {
    buf[0] = b'0';
    buf[1] = b'x';
    for (i, b) in buf.iter_mut().skip(2).enumerate() {
        *b = b"0123456789abcdef"[((n >> (28 - 4 * i)) & 0xf) as usize];
    }
    buf
}

/// `num / den` rounded to three decimals (`n/a` if `den` is 0).
#[inline(never)]
pub fn ratio(num: u64, den: u64, buf: &mut [u8; 24]) -> &[u8] {
    if den == 0 {
        return b"n/a";
    }
    let milli = div(num.saturating_mul(1000).saturating_add(den / 2), den).0;
    let (int, frac) = div(milli, 1000);
    let len = decimal(int, buf).len();
    let f = frac as u16; // < 1000
    let tail = [
        b'.',
        b'0' + (f / 100) as u8,
        b'0' + (f / 10 % 10) as u8,
        b'0' + (f % 10) as u8,
    ];
    match buf.get_mut(len..len + 4) {
        Some(dst) => dst.copy_from_slice(&tail),
        None => return b"n/a",
    }
    buf.get(..len + 4).unwrap_or(b"n/a")
}

/// `n` in decimal, at the start of `buf`; by subtracting powers of ten, so
/// no 64-bit division routine is linked.
#[inline(never)]
pub fn decimal(mut n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut len = 0;
    for p in POW10 {
        let mut d = 0u8;
        while n >= p {
            n -= p;
            d += 1;
        }
        if d > 0 || len > 0 || p == 1 {
            if let Some(b) = buf.get_mut(len) {
                *b = b'0' + d;
            }
            len += 1;
        }
    }
    buf.get(..len).unwrap_or(&[])
}

/// 10^19 down to 10^0.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 19;
    while i > 0 {
        t[i - 1] = t[i] * 10;
        i -= 1;
    }
    t
};

/// `(n / d, n % d)` by shift and subtract (`d > 0`), so no 64-bit division
/// routine is linked.
pub fn div(n: u64, d: u64) -> (u64, u64) {
    if d == 0 {
        return (0, n);
    }
    let (mut q, mut r) = (0u64, 0u64);
    for i in (0..64).rev() {
        r = (r << 1) | ((n >> i) & 1);
        if r >= d {
            r -= d;
            q |= 1 << i;
        }
    }
    (q, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Out for Vec<u8> {
        fn bytes(&mut self, bytes: &[u8]) {
            self.extend_from_slice(bytes);
        }
    }

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).expect("ASCII")
    }

    #[test]
    fn shapes() {
        assert_eq!(text(|o| o.u64(0)), "0");
        assert_eq!(text(|o| o.u64(u64::MAX)), u64::MAX.to_string());
        assert_eq!(text(|o| o.hex32(0x656b_0f99)), "0x656b0f99");
        assert_eq!(text(|o| o.ratio(7_195_662, 199)), "36159.106");
        assert_eq!(text(|o| o.ratio(1, 3)), "0.333");
        assert_eq!(text(|o| o.ratio(2, 3)), "0.667");
        assert_eq!(text(|o| o.ratio(5, 0)), "n/a");
    }

    proptest! {
        #[test]
        fn decimal_and_div_match_core(n in any::<u64>(), d in 1..u64::MAX) {
            prop_assert_eq!(text(|o| o.u64(n)), n.to_string());
            prop_assert_eq!(div(n, d), (n / d, n % d));
            let small = n % 1_000_000_000;
            let den = d % 100_000 + 1;
            let milli = (small * 1000 + den / 2) / den;
            prop_assert_eq!(text(|o| o.ratio(small, den)), format!("{}.{:03}", milli / 1000, milli % 1000));
        }
    }
}
