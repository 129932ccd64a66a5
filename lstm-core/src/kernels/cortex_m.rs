//! Cortex-M4F kernel: the FPU's fused multiply-add (`VFMA.F32`) and
//! multi-register loads (`VLDMIA`), eight accumulators in `s0`–`s7`.
//!
//! Bit-identical to [`super::portable`]: the same eight lanes, the same
//! reduction, and `VFMA` rounds once, as `fmaf` does. Rust has no stable
//! fused multiply-add in `core`, and LLVM never contracts `a * b + c` on its
//! own, so the instructions are written out here.

//! The routines are written in `global_asm!` with a `.fpu` directive:
//! stable Rust does not let inline `asm!` name floating-point registers on
//! this target, but a called routine under the hard-float ABI receives its
//! `f32` arguments in `s0`–`s2` directly.

use super::expc;

core::arch::global_asm!(
    ".syntax unified",
    ".thumb",
    ".fpu fpv4-sp-d16",
    // f32 lstm_core_fmaf(f32 a /* s0 */, f32 b /* s1 */, f32 c /* s2 */): a*b + c, one rounding.
    ".section .text.lstm_core_fmaf,\"ax\",%progbits",
    ".global lstm_core_fmaf",
    ".type lstm_core_fmaf,%function",
    ".thumb_func",
    "lstm_core_fmaf:",
    "    vfma.f32 s2, s0, s1",
    "    vmov.f32 s0, s2",
    "    bx lr",
    ".size lstm_core_fmaf, . - lstm_core_fmaf",
    // void lstm_core_dot8(const f32 *a /* r0 */, const f32 *b /* r1 */,
    //                     u32 blocks /* r2, > 0 */, f32 lanes[8] /* r3 */)
    // lanes[j] = sum over i of a[8i + j] * b[8i + j], fused, in increasing i.
    ".section .text.lstm_core_dot8,\"ax\",%progbits",
    ".global lstm_core_dot8",
    ".type lstm_core_dot8,%function",
    ".thumb_func",
    "lstm_core_dot8:",
    "    vpush {{s16-s23}}",
    "    vldmia r3, {{s0-s7}}",
    "1:",
    "    vldmia r0!, {{s8-s15}}",
    "    vldmia r1!, {{s16-s23}}",
    "    vfma.f32 s0, s8, s16",
    "    vfma.f32 s1, s9, s17",
    "    vfma.f32 s2, s10, s18",
    "    vfma.f32 s3, s11, s19",
    "    vfma.f32 s4, s12, s20",
    "    vfma.f32 s5, s13, s21",
    "    vfma.f32 s6, s14, s22",
    "    vfma.f32 s7, s15, s23",
    "    subs r2, r2, #1",
    "    bne 1b",
    "    vstmia r3, {{s0-s7}}",
    "    vpop {{s16-s23}}",
    "    bx lr",
    ".size lstm_core_dot8, . - lstm_core_dot8",
    // void lstm_core_gemv8(const f32 *w /* r0 */, const f32 *x /* r1 */,
    //                      u32 rows /* r2, > 0 */, u32 blocks /* r3, > 0 */, f32 *out /* [sp] */)
    // out[k] = eight-lane dot of row k (8·blocks values) with x, lanes reduced
    // ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)), as portable::dot. Rows go in pairs
    // (lanes of row k in s0-s7, of row k+1 in s8-s15) so each block of x is
    // loaded once for sixteen VFMAs; an odd last row goes alone.
    ".section .text.lstm_core_gemv8,\"ax\",%progbits",
    ".global lstm_core_gemv8",
    ".type lstm_core_gemv8,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_gemv8:",
    "    push {{r4-r10, lr}}",
    "    vpush {{s16-s31}}",
    "    ldr r4, [sp, #96]",      // out (8 core + 16 fp registers pushed)
    "    adr r7, 6f",             // sixteen zeros
    "    lsls r9, r3, #5",        // bytes per row: 32 · blocks
    "    lsrs r10, r2, #1",       // row pairs
    "    beq 7f",
    "4:",
    "    mov r5, r1",
    "    mov r6, r3",
    "    add r8, r0, r9",         // second row of the pair
    "    vldmia r7, {{s0-s15}}",
    "5:",
    "    vldmia r5!, {{s16-s23}}",
    "    vldmia r0!, {{s24-s31}}",
    "    vfma.f32 s0, s24, s16",
    "    vfma.f32 s1, s25, s17",
    "    vfma.f32 s2, s26, s18",
    "    vfma.f32 s3, s27, s19",
    "    vfma.f32 s4, s28, s20",
    "    vfma.f32 s5, s29, s21",
    "    vfma.f32 s6, s30, s22",
    "    vfma.f32 s7, s31, s23",
    "    vldmia r8!, {{s24-s31}}",
    "    vfma.f32 s8, s24, s16",
    "    vfma.f32 s9, s25, s17",
    "    vfma.f32 s10, s26, s18",
    "    vfma.f32 s11, s27, s19",
    "    vfma.f32 s12, s28, s20",
    "    vfma.f32 s13, s29, s21",
    "    vfma.f32 s14, s30, s22",
    "    vfma.f32 s15, s31, s23",
    "    subs r6, r6, #1",
    "    bne 5b",
    "    vadd.f32 s0, s0, s4",
    "    vadd.f32 s1, s1, s5",
    "    vadd.f32 s2, s2, s6",
    "    vadd.f32 s3, s3, s7",
    "    vadd.f32 s0, s0, s2",
    "    vadd.f32 s1, s1, s3",
    "    vadd.f32 s0, s0, s1",
    "    vadd.f32 s8, s8, s12",
    "    vadd.f32 s9, s9, s13",
    "    vadd.f32 s10, s10, s14",
    "    vadd.f32 s11, s11, s15",
    "    vadd.f32 s8, s8, s10",
    "    vadd.f32 s9, s9, s11",
    "    vadd.f32 s8, s8, s9",
    "    vstmia r4!, {{s0}}",
    "    vstmia r4!, {{s8}}",
    "    mov r0, r8",             // next pair starts after the second row
    "    subs r10, r10, #1",
    "    bne 4b",
    "7:",
    "    tst r2, #1",             // an odd last row
    "    beq 9f",
    "    mov r5, r1",
    "    mov r6, r3",
    "    vldmia r7, {{s0-s7}}",
    "8:",
    "    vldmia r0!, {{s8-s15}}",
    "    vldmia r5!, {{s16-s23}}",
    "    vfma.f32 s0, s8, s16",
    "    vfma.f32 s1, s9, s17",
    "    vfma.f32 s2, s10, s18",
    "    vfma.f32 s3, s11, s19",
    "    vfma.f32 s4, s12, s20",
    "    vfma.f32 s5, s13, s21",
    "    vfma.f32 s6, s14, s22",
    "    vfma.f32 s7, s15, s23",
    "    subs r6, r6, #1",
    "    bne 8b",
    "    vadd.f32 s0, s0, s4",
    "    vadd.f32 s1, s1, s5",
    "    vadd.f32 s2, s2, s6",
    "    vadd.f32 s3, s3, s7",
    "    vadd.f32 s0, s0, s2",
    "    vadd.f32 s1, s1, s3",
    "    vadd.f32 s0, s0, s1",
    "    vstmia r4!, {{s0}}",
    "9:",
    "    vpop {{s16-s31}}",
    "    pop {{r4-r10, pc}}",
    ".p2align 2",
    "6:",
    "    .word 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0",
    ".size lstm_core_gemv8, . - lstm_core_gemv8",
    // void lstm_core_act(f32 *v /* r0 */, u32 n /* r1, > 0 */, u32 kind /* r2 */,
    //                    f32 max /* s0 */, f32 t /* s1 */)
    // kind 0: v = 1 / (1 + exp(-v)); kind 1: v = 1 - 2 / (exp(2v) + 1);
    // kind 2: v = exp((v - max) / t). The exp is the portable kernel's, operation
    // for operation, with its constants held in s16-s29 (1.0 in s30, 2.0 in s31).
    // exp(s0) -> s0, the portable kernel's operations in order; constants in
    // s16-s29 (see the pool below), temporaries s1-s3 and r3.
    ".macro lstm_exp",
    "    vcmp.f32 s0, s16",
    "    vmrs APSR_nzcv, fpscr",
    "    it mi",
    "    vmovmi.f32 s0, s16",
    "    vcmp.f32 s0, s17",
    "    vmrs APSR_nzcv, fpscr",
    "    it gt",
    "    vmovgt.f32 s0, s17",
    "    vmul.f32 s1, s0, s18",
    "    vadd.f32 s1, s1, s19",
    "    vsub.f32 s1, s1, s19",
    "    vfma.f32 s0, s1, s20",
    "    vfma.f32 s0, s1, s21",
    "    vmov.f32 s3, s23",
    "    vfma.f32 s3, s22, s0",
    "    vmov.f32 s2, s24",
    "    vfma.f32 s2, s3, s0",
    "    vmov.f32 s3, s25",
    "    vfma.f32 s3, s2, s0",
    "    vmov.f32 s2, s26",
    "    vfma.f32 s2, s3, s0",
    "    vmov.f32 s3, s27",
    "    vfma.f32 s3, s2, s0",
    "    vmov.f32 s2, s28",
    "    vfma.f32 s2, s3, s0",
    "    vmov.f32 s3, s29",
    "    vfma.f32 s3, s2, s0",
    "    vcvt.s32.f32 s1, s1",
    "    vmov r3, s1",
    "    adds r3, r3, #127",
    "    lsls r3, r3, #23",
    "    vmov s1, r3",
    "    vmul.f32 s0, s3, s1",
    ".endm",
    ".section .text.lstm_core_act,\"ax\",%progbits",
    ".global lstm_core_act",
    ".type lstm_core_act,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_act:",
    "    vpush {{s16-s31}}",
    "    vmov.f32 s14, s0",       // max
    "    vmov.f32 s15, s1",       // t
    "    adr r3, 3f",
    "    vldmia r3, {{s16-s31}}",
    "    cmp r2, #1",
    "    beq 20f",
    "    bhi 30f",
    "10:",                        // sigmoid
    "    vldr s0, [r0]",
    "    vneg.f32 s0, s0",
    "    lstm_exp",
    "    vadd.f32 s0, s0, s30",
    "    vdiv.f32 s0, s30, s0",
    "    vstmia r0!, {{s0}}",
    "    subs r1, r1, #1",
    "    bne 10b",
    "    b 40f",
    "20:",                        // tanh
    "    vldr s0, [r0]",
    "    vmul.f32 s0, s0, s31",
    "    lstm_exp",
    "    vadd.f32 s0, s0, s30",
    "    vdiv.f32 s0, s31, s0",
    "    vsub.f32 s0, s30, s0",
    "    vstmia r0!, {{s0}}",
    "    subs r1, r1, #1",
    "    bne 20b",
    "    b 40f",
    "30:",                        // exp((v - max) / t)
    "    vldr s0, [r0]",
    "    vsub.f32 s0, s0, s14",
    "    vdiv.f32 s0, s0, s15",
    "    lstm_exp",
    "    vstmia r0!, {{s0}}",
    "    subs r1, r1, #1",
    "    bne 30b",
    "40:",
    "    vpop {{s16-s31}}",
    "    bx lr",
    ".p2align 2",
    "3:",
    "    .word 0xC2AE0000",     // s16: -87.0
    "    .word 0x42B00000",     // s17: 88.0
    "    .word {log2e}",        // s18
    "    .word 0x4B400000",     // s19: 12582912.0
    "    .word {neg_ln2_hi}",   // s20
    "    .word {neg_ln2_lo}",   // s21
    "    .word {c0}",           // s22-s29: C0..C7
    "    .word {c1}",
    "    .word {c2}",
    "    .word {c3}",
    "    .word {c4}",
    "    .word {c5}",
    "    .word {c6}",
    "    .word {c7}",
    "    .word 0x3F800000",     // s30: 1.0
    "    .word 0x40000000",     // s31: 2.0
    ".size lstm_core_act, . - lstm_core_act",
    log2e = const expc::LOG2E.to_bits(),
    neg_ln2_hi = const (-expc::LN2_HI).to_bits(),
    neg_ln2_lo = const (-expc::LN2_LO).to_bits(),
    c0 = const expc::C[0].to_bits(),
    c1 = const expc::C[1].to_bits(),
    c2 = const expc::C[2].to_bits(),
    c3 = const expc::C[3].to_bits(),
    c4 = const expc::C[4].to_bits(),
    c5 = const expc::C[5].to_bits(),
    c6 = const expc::C[6].to_bits(),
    c7 = const expc::C[7].to_bits(),
);

const _: () = assert!(expc::LO == -87.0 && expc::HI == 88.0 && expc::ROUND == 12_582_912.0);

unsafe extern "C" {
    fn lstm_core_fmaf(a: f32, b: f32, c: f32) -> f32;
    fn lstm_core_dot8(a: *const f32, b: *const f32, blocks: u32, lanes: *mut [f32; 8]);
    fn lstm_core_act(v: *mut f32, n: u32, kind: u32, max: f32, t: f32);
    fn lstm_core_gemv8(w: *const f32, x: *const f32, rows: u32, blocks: u32, out: *mut f32);
}

/// a·b + c with a single rounding (`VFMA.F32`).
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    // SAFETY: the routine reads its three arguments from s0–s2 and returns in
    // s0, as the hard-float AAPCS says; it touches no memory.
    unsafe { lstm_core_fmaf(a, b, c) }
}

/// Eight-lane dot product: per eight elements two `VLDMIA` and eight `VFMA`.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let blocks = len / 8;
    let mut l = [0.0f32; 8];
    if let Ok(n @ 1..) = u32::try_from(blocks) {
        // SAFETY: `a` and `b` hold at least `8 · blocks` f32s each and the
        // routine reads exactly that many from each (n > 0 iterations of
        // eight); it writes only the eight lanes of `l`, and saves the
        // callee-saved s16–s23 it uses.
        unsafe { lstm_core_dot8(a.as_ptr(), b.as_ptr(), n, &mut l) };
    }
    let done = blocks * 8;
    let (ta, tb) = (
        a.get(done..len).unwrap_or(&[]),
        b.get(done..len).unwrap_or(&[]),
    );
    for ((lane, x), y) in l.iter_mut().zip(ta).zip(tb) {
        *lane = fma(*x, *y, *lane);
    }
    super::portable::reduce8(l)
}

/// out[k] = dot(row k of `w`, x): one routine call for the whole matrix when
/// rows are a multiple of eight long, else one dot product per row.
#[inline]
fn gemv(w: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len();
    let rows = out.len();
    if let (Ok(r @ 1..), Ok(b @ 1..)) = (u32::try_from(rows), u32::try_from(n / 8)) {
        if n % 8 == 0 && w.len() >= rows * n {
            // SAFETY: `w` holds `rows · n` f32s and `x` holds `n = 8 · b`; the
            // routine reads exactly those, writes `rows` f32s to `out` (its
            // length), and saves the callee-saved registers it uses.
            unsafe { lstm_core_gemv8(w.as_ptr(), x.as_ptr(), r, b, out.as_mut_ptr()) };
            return;
        }
    }
    for (o, row) in out.iter_mut().zip(w.chunks_exact(n.max(1))) {
        *o = dot(row, x);
    }
}

/// Runs `lstm_core_act` over `v`.
#[inline]
fn act(v: &mut [f32], kind: u32, max: f32, t: f32) {
    if let Ok(n @ 1..) = u32::try_from(v.len()) {
        // SAFETY: the routine reads and writes exactly the `n` f32s of `v`,
        // and saves the callee-saved s16-s31 it uses.
        unsafe { lstm_core_act(v.as_mut_ptr(), n, kind, max, t) };
    }
}

/// v = sigmoid(v).
#[inline]
fn sigmoid_in_place(v: &mut [f32]) {
    act(v, 0, 0.0, 1.0);
}

/// v = tanh(v).
#[inline]
fn tanh_in_place(v: &mut [f32]) {
    act(v, 1, 0.0, 1.0);
}

/// v = exp((v - max) / t).
#[inline]
fn exp_shifted(v: &mut [f32], max: f32, t: f32) {
    act(v, 2, max, t);
}

super::scalar_elementwise!();
super::kernel_body!();
