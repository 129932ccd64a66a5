//! Cortex-M4F kernel: the FPU's fused multiply-add (`VFMA.F32`) and
//! multi-register loads (`VLDMIA`), eight accumulators in `s0`–`s7`.
//!
//! Bit-identical to the portable primitives: the same eight lanes, the same
//! reduction, and `VFMA` rounds once, as `fmaf` does. Rust has no stable
//! fused multiply-add in `core`, and LLVM never contracts `a * b + c` on its
//! own, so the instructions are written out here.

//! The routines are written in `global_asm!` with a `.fpu` directive:
//! stable Rust does not let inline `asm!` name floating-point registers on
//! this target, but a called routine under the hard-float ABI receives its
//! `f32` arguments in `s0`–`s2` directly. [`CortexM4F`] wraps them as the
//! [`Arch`] primitives; the entry points at the bottom instantiate the
//! generic cell bodies with it.

use core::ops::Range;

use super::arch::{Arch, add_q8_column, reduce8, units};
use super::cell;
use crate::lut::SIGMOID_TABLE_PADDED;
use crate::math::expc;
use crate::quant::q15;
use crate::view::{Input, OutputView, RecurrentView};

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
    // One pass over row pairs (see lstm_core_gemv8): \unroll blocks of eight
    // per loop test; with \fused, out = dot + (a[k] + b[k]).
    ".macro lstm_gemv_pairs unroll, fused",
    ".Lpair\\@:",
    "    mov r5, r1",             // x
    "    add r8, r0, r9",         // second row of the pair
    "    vldmia r7, {{s0-s15}}",  // sixteen zero lanes
    ".Lblock\\@:",
    "    .rept \\unroll",
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
    "    .endr",
    "    cmp r5, lr",
    "    bne .Lblock\\@",
    "    vadd.f32 s0, s0, s4",    // row k: ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) -> s0
    "    vadd.f32 s1, s1, s5",
    "    vadd.f32 s2, s2, s6",
    "    vadd.f32 s3, s3, s7",
    "    vadd.f32 s0, s0, s2",
    "    vadd.f32 s1, s1, s3",
    "    vadd.f32 s0, s0, s1",
    "    vadd.f32 s8, s8, s12",   // row k+1, the same tree -> s1
    "    vadd.f32 s9, s9, s13",
    "    vadd.f32 s10, s10, s14",
    "    vadd.f32 s11, s11, s15",
    "    vadd.f32 s8, s8, s10",
    "    vadd.f32 s9, s9, s11",
    "    vadd.f32 s1, s8, s9",
    "    .if \\fused",
    "    vldmia r11!, {{s2-s3}}",
    "    vldmia r12!, {{s4-s5}}",
    "    vadd.f32 s2, s2, s4",
    "    vadd.f32 s3, s3, s5",
    "    vadd.f32 s0, s0, s2",
    "    vadd.f32 s1, s1, s3",
    "    .endif",
    "    vstmia r4!, {{s0-s1}}",
    "    mov r0, r8",             // the next pair starts after the second row
    "    subs r10, r10, #1",
    "    bne .Lpair\\@",
    ".endm",
    // void lstm_core_gemv8(const f32 *w /* r0 */, const f32 *x /* r1 */,
    //                      u32 rows /* r2, > 0 */, u32 blocks /* r3, > 0 */,
    //                      f32 *out /* [sp] */, const f32 *a /* [sp+4] */,
    //                      const f32 *b /* [sp+8] */)
    // out[k] = eight-lane dot of row k (8·blocks values) with x, lanes reduced
    // ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)), as portable::dot; if b is not null,
    // out[k] = that + (a[k] + b[k]) (the gate's input column and bias). Rows go
    // in pairs (lanes of row k in s0-s7, of row k+1 in s8-s15) so each block of
    // x is loaded once for sixteen VFMAs, four blocks per loop test when the
    // row length allows; an odd last row goes alone.
    ".section .text.lstm_core_gemv8,\"ax\",%progbits",
    ".global lstm_core_gemv8",
    ".type lstm_core_gemv8,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_gemv8:",
    "    push {{r4-r11, lr}}",
    "    vpush {{s16-s31}}",
    "    ldr r4, [sp, #100]",     // out (9 core + 16 fp registers pushed)
    "    ldr r11, [sp, #104]",    // a
    "    ldr r12, [sp, #108]",    // b
    "    adr r7, 6f",             // sixteen zeros
    "    lsls r9, r3, #5",        // bytes per row: 32 · blocks
    "    add lr, r1, r9",         // end of x
    "    lsrs r10, r2, #1",       // row pairs
    "    beq 7f",
    "    tst r3, #3",
    "    bne 2f",
    "    cmp r12, #0",
    "    beq 1f",
    "    lstm_gemv_pairs 4, 1",
    "    b 7f",
    "1:",
    "    lstm_gemv_pairs 4, 0",
    "    b 7f",
    "2:",
    "    cmp r12, #0",
    "    beq 3f",
    "    lstm_gemv_pairs 1, 1",
    "    b 7f",
    "3:",
    "    lstm_gemv_pairs 1, 0",
    "7:",
    "    tst r2, #1",             // an odd last row
    "    beq 9f",
    "    mov r5, r1",
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
    "    cmp r5, lr",
    "    bne 8b",
    "    vadd.f32 s0, s0, s4",
    "    vadd.f32 s1, s1, s5",
    "    vadd.f32 s2, s2, s6",
    "    vadd.f32 s3, s3, s7",
    "    vadd.f32 s0, s0, s2",
    "    vadd.f32 s1, s1, s3",
    "    vadd.f32 s0, s0, s1",
    "    cmp r12, #0",
    "    beq 5f",
    "    vldr s2, [r11]",
    "    vldr s4, [r12]",
    "    vadd.f32 s2, s2, s4",
    "    vadd.f32 s0, s0, s2",
    "5:",
    "    vstmia r4!, {{s0}}",
    "9:",
    "    vpop {{s16-s31}}",
    "    pop {{r4-r11, pc}}",
    ".p2align 2",
    "6:",
    "    .word 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0",
    ".size lstm_core_gemv8, . - lstm_core_gemv8",
    // exp of the argument in \x, the portable kernel's operations in order;
    // \mul and \fma1 are vmul/vfma for exp(x) and vnmul/vfnms for exp(-x)
    // (the same roundings: the negation is exact). Constants: s16 log2(e),
    // s17 ROUND, s18 -LN2_HI, s19 -LN2_LO, s24 +inf, s25 0, r6 BIAS_BITS,
    // r5 the polynomial's C0..C7 (loaded fresh into s8-s15 for each element,
    // as Horner's VFMA overwrites its addend). Temporaries s1, s8-s15, r3.
    // When the biased exponent leaves [0, 255] the result saturates (cold
    // path): t above ROUND gives +inf, below gives 0, NaN stays NaN.
    ".macro lstm_exp x, mul, fma1",
    "    \\mul\\().f32 s1, \\x, s16",
    "    vadd.f32 s1, s1, s17",   // t = ROUND + n
    "    vmov r3, s1",
    "    sub r3, r3, r6",         // biased exponent n + 127
    "    cmp r3, #255",
    "    bhi .Lsat\\@",
    "    vsub.f32 s1, s1, s17",   // n
    "    \\fma1\\().f32 \\x, s1, s18",
    "    vfma.f32 \\x, s1, s19",  // r
    "    lsls r3, r3, #23",
    "    vmov s1, r3",            // 2^n
    "    vldmia r5, {{s8-s15}}",
    "    vfma.f32 s9, s8, \\x",
    "    vfma.f32 s10, s9, \\x",
    "    vfma.f32 s11, s10, \\x",
    "    vfma.f32 s12, s11, \\x",
    "    vfma.f32 s13, s12, \\x",
    "    vfma.f32 s14, s13, \\x",
    "    vfma.f32 s15, s14, \\x",
    "    vmul.f32 \\x, s15, s1",
    ".Ldone\\@:",
    "    .subsection 1",
    ".Lsat\\@:",
    "    vcmp.f32 s1, s17",
    "    vmrs APSR_nzcv, fpscr",
    "    vmov.f32 \\x, s1",
    "    it gt",
    "    vmovgt.f32 \\x, s24",
    "    it mi",
    "    vmovmi.f32 \\x, s25",
    "    b .Ldone\\@",
    "    .subsection 0",
    ".endm",
    // sigmoid(x) = 1 / (1 + exp(-x))
    ".macro lstm_sigmoid x",
    "    lstm_exp \\x, vnmul, vfnms",
    "    vadd.f32 \\x, \\x, s20",
    "    vdiv.f32 \\x, s20, \\x",
    ".endm",
    // tanh(x) = 1 - 2 / (exp(2x) + 1)
    ".macro lstm_tanh x",
    "    vadd.f32 \\x, \\x, \\x",
    "    lstm_exp \\x, vmul, vfma",
    "    vadd.f32 \\x, \\x, s20",
    "    vdiv.f32 \\x, s21, \\x",
    "    vsub.f32 \\x, s20, \\x",
    ".endm",
    // exp((x - max) / t)
    ".macro lstm_sexp x",
    "    vsub.f32 \\x, \\x, s22",
    "    vdiv.f32 \\x, \\x, s23",
    "    lstm_exp \\x, vmul, vfma",
    ".endm",
    // v[i] = f(v[i]) for an element macro f: four at a time, then one.
    ".macro lstm_map f",
    "    lsrs r4, r1, #2",
    "    beq .Lone\\@",
    ".Lfour\\@:",
    "    vldmia r0, {{s4-s7}}",
    "    \\f s4",
    "    \\f s5",
    "    \\f s6",
    "    \\f s7",
    "    vstmia r0!, {{s4-s7}}",
    "    subs r4, r4, #1",
    "    bne .Lfour\\@",
    ".Lone\\@:",
    "    ands r4, r1, #3",
    "    beq 40f",
    ".Lloop\\@:",
    "    vldr s4, [r0]",
    "    \\f s4",
    "    vstmia r0!, {{s4}}",
    "    subs r4, r4, #1",
    "    bne .Lloop\\@",
    "    b 40f",
    ".endm",
    // void lstm_core_act(f32 *v /* r0 */, u32 n /* r1, > 0 */, u32 kind /* r2 */,
    //                    f32 max /* s0 */, f32 t /* s1 */)
    // kind 0: v = sigmoid(v); kind 1: v = tanh(v); kind 2: v = exp((v - max) / t).
    ".section .text.lstm_core_act,\"ax\",%progbits",
    ".global lstm_core_act",
    ".type lstm_core_act,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_act:",
    "    push {{r4-r6, lr}}",
    "    vpush {{s16-s25}}",
    "    vmov.f32 s22, s0",       // max
    "    vmov.f32 s23, s1",       // t
    "    adr r3, 3f",
    "    vldmia r3!, {{s16-s21}}",
    "    vldmia r3!, {{s24-s25}}",
    "    ldr r6, [r3], #4",
    "    mov r5, r3",             // C0..C7
    "    cmp r2, #1",
    "    beq 20f",
    "    bhi 30f",
    "    lstm_map lstm_sigmoid",
    "20:",
    "    lstm_map lstm_tanh",
    "30:",
    "    lstm_map lstm_sexp",
    "40:",
    "    vpop {{s16-s25}}",
    "    pop {{r4-r6, pc}}",
    ".p2align 2",
    "3:",
    ".Llstm_act_consts:",
    "    .word {log2e}",          // s16
    "    .word 0x4B400000",       // s17: ROUND = 12582912.0
    "    .word {neg_ln2_hi}",     // s18
    "    .word {neg_ln2_lo}",     // s19
    "    .word 0x3F800000",       // s20: 1.0
    "    .word 0x40000000",       // s21: 2.0
    "    .word 0x7F800000",       // s24: +inf
    "    .word 0",                // s25: 0.0
    "    .word {bias_bits}",      // r6
    "    .word {c0}",             // C0..C7, through r5
    "    .word {c1}",
    "    .word {c2}",
    "    .word {c3}",
    "    .word {c4}",
    "    .word {c5}",
    "    .word {c6}",
    "    .word {c7}",
    "    .subsection 1",          // the cold saturation paths end the routine
    ".size lstm_core_act, . - lstm_core_act",
    "    .subsection 0",
    // void lstm_core_cell(const f32 *i /* r0 */, const f32 *f /* r1 */,
    //                     const f32 *g /* r2 */, const f32 *o /* r3 */,
    //                     f32 *c /* [sp] */, f32 *h /* [sp+4] */, u32 n /* [sp+8], > 0 */)
    // The state update over activated gates, one pass: c = fma(f, c, i·g)
    // (VFMA onto the rounded product), h = o · tanh(c), tanh as lstm_core_act's.
    ".section .text.lstm_core_cell,\"ax\",%progbits",
    ".global lstm_core_cell",
    ".type lstm_core_cell,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_cell:",
    "    push {{r4-r8, lr}}",
    "    vpush {{s16-s25}}",
    "    ldr r4, [sp, #64]",      // c (6 core + 10 fp registers pushed)
    "    ldr r7, [sp, #68]",      // h
    "    ldr r8, [sp, #72]",      // n
    "    mov lr, r3",             // o (r3 is the exp's temporary)
    "    ldr r3, =.Llstm_act_consts", // lstm_core_act's constant pool
    "    vldmia r3!, {{s16-s21}}",
    "    vldmia r3!, {{s24-s25}}",
    "    ldr r6, [r3], #4",
    "    mov r5, r3",
    "1:",
    "    vldmia r0!, {{s5}}",     // i
    "    vldmia r2!, {{s6}}",     // g
    "    vmul.f32 s4, s5, s6",
    "    vldmia r1!, {{s7}}",     // f
    "    vldr s5, [r4]",          // c
    "    vfma.f32 s4, s7, s5",    // c = f·c + i·g
    "    vstmia r4!, {{s4}}",
    "    lstm_tanh s4",
    "    vldmia lr!, {{s5}}",     // o
    "    vmul.f32 s4, s5, s4",
    "    vstmia r7!, {{s4}}",     // h
    "    subs r8, r8, #1",
    "    bne 1b",
    "    vpop {{s16-s25}}",
    "    pop {{r4-r8, pc}}",
    "    .ltorg",
    "    .subsection 1",
    ".size lstm_core_cell, . - lstm_core_cell",
    "    .subsection 0",
    log2e = const expc::LOG2E.to_bits(),
    neg_ln2_hi = const (-expc::LN2_HI).to_bits(),
    neg_ln2_lo = const (-expc::LN2_LO).to_bits(),
    bias_bits = const expc::BIAS_BITS,
    c0 = const expc::C[0].to_bits(),
    c1 = const expc::C[1].to_bits(),
    c2 = const expc::C[2].to_bits(),
    c3 = const expc::C[3].to_bits(),
    c4 = const expc::C[4].to_bits(),
    c5 = const expc::C[5].to_bits(),
    c6 = const expc::C[6].to_bits(),
    c7 = const expc::C[7].to_bits(),
);

// The q8 dtype's table activations (`crate::lut`): the same operations as
// `sigmoid_table_with` / `tanh_table_with` over VFMA, value by value.
core::arch::global_asm!(
    ".syntax unified",
    ".thumb",
    ".fpu fpv4-sp-d16",
    // s3 = sigmoid_table(s0), table at r2 (514 entries: the last repeats
    // T[512]), r4 = 511, r6 = the bits of 16.0; uses s1-s4, r5, r12;
    // s8 = -16, s9 = 16, s10 = 256.
    ".macro lstm_sigt",
    // |x| < 16 (NaN fails): no clamp, and trunc(t) <= 512, where T[512]
    // with f = 0 equals T[511] with f = 1 (the difference is exact).
    // 16x is exact, so fma(x, 16, 256) = 16x + 256 (one rounding).
    "    vmov r5, s0",
    "    bic r5, r5, #0x80000000",
    "    cmp r5, r6",
    "    bhs .Lclamp\\@",
    "    vmul.f32 s1, s0, s9",
    "    vadd.f32 s1, s1, s10",
    "    vcvt.u32.f32 s2, s1",
    "    vmov r5, s2",
    "    vcvt.f32.u32 s2, s2",
    ".Ljoin\\@:",
    // f = t - i; fma(f, T[i+1] - T[i], T[i])
    "    vsub.f32 s1, s1, s2",
    "    add r12, r2, r5, lsl #2",
    "    vldmia r12, {{s3-s4}}",
    "    vsub.f32 s4, s4, s3",
    "    vfma.f32 s3, s1, s4",
    // Out of line: the clamped inputs.
    "    .subsection 1",
    ".Lclamp\\@:",
    // x = x > -16 ? x : -16 (NaN: unordered, LE holds, -16)
    "    vcmp.f32 s0, s8",
    "    vmrs APSR_nzcv, fpscr",
    "    it le",
    "    vmovle.f32 s0, s8",
    // x = x < 16 ? x : 16
    "    vcmp.f32 s0, s9",
    "    vmrs APSR_nzcv, fpscr",
    "    it ge",
    "    vmovge.f32 s0, s9",
    // t = 16x + 256; i = min(trunc(t), 511)
    "    vmul.f32 s1, s0, s9",
    "    vadd.f32 s1, s1, s10",
    "    vcvt.u32.f32 s2, s1",
    "    vmov r5, s2",
    "    cmp r5, r4",
    "    it hi",
    "    movhi r5, r4",
    "    vmov s2, r5",
    "    vcvt.f32.u32 s2, s2",
    "    b .Ljoin\\@",
    "    .subsection 0",
    ".endm",
    // *v++ = sigmoid_table(*v)
    ".macro lstm_sig1",
    "    vldr s0, [r0]",
    "    lstm_sigt",
    "    vstmia r0!, {{s3}}",
    ".endm",
    // *v++ = tanh_table(*v) = fma(2, sigmoid_table(2v), -1)
    ".macro lstm_tanh1",
    "    vldr s0, [r0]",
    "    vadd.f32 s0, s0, s0",
    "    lstm_sigt",
    "    vmov.f32 s5, s12",
    "    vfma.f32 s5, s11, s3",
    "    vstmia r0!, {{s5}}",
    ".endm",
    // void lstm_core_act_table(f32 *v /* r0 */, u32 n /* r1, > 0 */,
    //                          const f32 table[514] /* r2 */, u32 kind /* r3 */)
    // kind 0: v = sigmoid_table(v); else v = tanh_table(v) = fma(2, sigmoid_table(2v), -1).
    ".section .text.lstm_core_act_table,\"ax\",%progbits",
    ".global lstm_core_act_table",
    ".type lstm_core_act_table,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_act_table:",
    "    push {{r4-r6, lr}}",
    "    movw r4, #511",
    "    movw r6, #0",
    "    movt r6, #0x4180",
    "    vmov.f32 s8, #-16.0",
    "    vmov.f32 s9, #16.0",
    "    vmul.f32 s10, s9, s9",
    "    vmov.f32 s11, #2.0",
    "    vmov.f32 s12, #-1.0",
    // Two values per iteration, then the odd one.
    "    cmp r3, #0",
    "    lsr r3, r1, #1",
    "    bne 20f",
    "    cmp r3, #0",
    "    beq 12f",
    "11:",
    "    lstm_sig1",
    "    lstm_sig1",
    "    subs r3, r3, #1",
    "    bne 11b",
    "12:",
    "    tst r1, #1",
    "    beq 40f",
    "    lstm_sig1",
    "    b 40f",
    "20:",
    "    cmp r3, #0",
    "    beq 22f",
    "21:",
    "    lstm_tanh1",
    "    lstm_tanh1",
    "    subs r3, r3, #1",
    "    bne 21b",
    "22:",
    "    tst r1, #1",
    "    beq 40f",
    "    lstm_tanh1",
    "40:",
    "    pop {{r4-r6, pc}}",
    ".size lstm_core_act_table, . - lstm_core_act_table",
);

// The q8 product (int8 rows × Q15 state, exact i32 sums; `crate::quant`).
// The state comes from `CortexM4F::q15_pack`: each full group of four is
// stored x0, x2, x1, x3, so one word load of it gives (x0, x2) and the next
// (x1, x3), which pair with SXTB16's (w0, w2) and SXTB16 ROR #8's (w1, w3)
// of one word of weights; the last n % 4 values are in order.
core::arch::global_asm!(
    ".syntax unified",
    ".thumb",
    ".fpu fpv4-sp-d16",
    // One block of eight columns of the row pair at r0, r1 (x at r2) into
    // r11, r12: x as (x0,x2) (x1,x3) (x4,x6) (x5,x7) in r4-r7, each row's
    // eight bytes in r8, r9, SXTB16 / SXTB16 ROR #8 into r10, SMLAD.
    ".macro lstm_q8_block8 al",
    "    .if \\al",
    "    ldm r2!, {{r4-r7}}",
    "    ldrd r8, r9, [r0], #8",
    "    .else",
    "    ldr r4, [r2], #4",
    "    ldr r5, [r2], #4",
    "    ldr r6, [r2], #4",
    "    ldr r7, [r2], #4",
    "    ldr r8, [r0], #4",
    "    ldr r9, [r0], #4",
    "    .endif",
    "    sxtb16 r10, r8",
    "    smlad r11, r10, r4, r11",
    "    sxtb16 r10, r8, ror #8",
    "    smlad r11, r10, r5, r11",
    "    sxtb16 r10, r9",
    "    smlad r11, r10, r6, r11",
    "    sxtb16 r10, r9, ror #8",
    "    smlad r11, r10, r7, r11",
    "    .if \\al",
    "    ldrd r8, r9, [r1], #8",
    "    .else",
    "    ldr r8, [r1], #4",
    "    ldr r9, [r1], #4",
    "    .endif",
    "    sxtb16 r10, r8",
    "    smlad r12, r10, r4, r12",
    "    sxtb16 r10, r8, ror #8",
    "    smlad r12, r10, r5, r12",
    "    sxtb16 r10, r9",
    "    smlad r12, r10, r6, r12",
    "    sxtb16 r10, r9, ror #8",
    "    smlad r12, r10, r7, r12",
    ".endm",
    // Sums of the row pair at r0, r1 against x ([sp]) over n ([sp+4])
    // columns into r11, r12: blocks of eight (two groups; two blocks per
    // loop test), then one group of four, then the 0-3 last columns (LDRSB,
    // LDRSH, SMLABB). With \al the rows and x are word-aligned and blocks
    // load by LDRD / LDM; else by LDR, which the Cortex-M4 allows at any
    // alignment (CCR.UNALIGN_TRP clear, its reset value). Leaves r0, r1 just
    // past their rows and r3 = n.
    // Clobbers r2, r4-r10, lr.
    ".macro lstm_q8_pair al",
    "    ldr r2, [sp, #0]",
    "    ldr r3, [sp, #4]",
    "    mov r11, #0",
    "    mov r12, #0",
    "    lsrs lr, r3, #4", // pairs of blocks of eight: sixteen columns per loop test
    "    beq 6f",
    "1:",
    "    lstm_q8_block8 \\al",
    "    lstm_q8_block8 \\al",
    "    subs lr, lr, #1",
    "    bne 1b",
    "6:",
    "    tst r3, #8", // one more block of eight
    "    beq 2f",
    "    lstm_q8_block8 \\al",
    "2:",
    "    tst r3, #4",
    "    beq 3f",
    "    ldr r4, [r2], #4",
    "    ldr r5, [r2], #4",
    "    ldr r8, [r0], #4",
    "    ldr r9, [r1], #4",
    "    sxtb16 r10, r8",
    "    smlad r11, r10, r4, r11",
    "    sxtb16 r10, r8, ror #8",
    "    smlad r11, r10, r5, r11",
    "    sxtb16 r10, r9",
    "    smlad r12, r10, r4, r12",
    "    sxtb16 r10, r9, ror #8",
    "    smlad r12, r10, r5, r12",
    "3:",
    "    ands lr, r3, #3",
    "    beq 5f",
    "4:",
    "    ldrsh r4, [r2], #2",
    "    ldrsb r8, [r0], #1",
    "    ldrsb r9, [r1], #1",
    "    smlabb r11, r8, r4, r11",
    "    smlabb r12, r9, r4, r12",
    "    subs lr, lr, #1",
    "    bne 4b",
    "5:",
    ".endm",
    // out[k] = ((acc as f32) · 2^-15) · scale[k] for r11 (and r12 if \two):
    // VCVT from fixed point with 15 fraction bits rounds the sum to nearest
    // and scales it exactly, then one VMUL. out at [sp+8], scale at [sp+12].
    ".macro lstm_q8_store two",
    "    ldr r4, [sp, #8]",
    "    ldr r5, [sp, #12]",
    "    vmov s0, r11",
    "    vcvt.f32.s32 s0, s0, #15",
    "    .if \\two",
    "    vmov s1, r12",
    "    vcvt.f32.s32 s1, s1, #15",
    "    vldmia r5!, {{s2-s3}}",
    "    vmul.f32 s0, s0, s2",
    "    vmul.f32 s1, s1, s3",
    "    vstmia r4!, {{s0-s1}}",
    "    .else",
    "    vldmia r5!, {{s2}}",
    "    vmul.f32 s0, s0, s2",
    "    vstmia r4!, {{s0}}",
    "    .endif",
    "    str r4, [sp, #8]",
    "    str r5, [sp, #12]",
    ".endm",
    // Every row pair, then an odd last row (summed twice, stored once).
    ".macro lstm_q8_rows al",
    "10:",
    "    ldr r4, [sp, #16]",
    "    cmp r4, #2",
    "    blo 15f",
    "    lstm_q8_pair \\al",
    "    lstm_q8_store 1",
    "    mov r0, r1",
    "    add r1, r1, r3",
    "    ldr r4, [sp, #16]",
    "    subs r4, r4, #2",
    "    str r4, [sp, #16]",
    "    b 10b",
    "15:",
    "    cmp r4, #0",
    "    beq 90f",
    "    mov r1, r0",
    "    lstm_q8_pair \\al",
    "    lstm_q8_store 0",
    "    b 90f",
    ".endm",
    // void lstm_core_gemv_q8(const i8 *w /* r0 */, const i16 *x /* r1 */,
    //                        u32 rows /* r2 */, u32 n /* r3 */, f32 *out /* [sp] */,
    //                        const f32 *scale /* [sp+4] */, u32 aligned /* [sp+8] */)
    // The rows of w (n bytes each, back to back) against x (n i16s, packed
    // as above); aligned != 0 promises w and x word-aligned and n % 4 == 0.
    ".section .text.lstm_core_gemv_q8,\"ax\",%progbits",
    ".global lstm_core_gemv_q8",
    ".type lstm_core_gemv_q8,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_gemv_q8:",
    "    push {{r4-r11, lr}}",
    "    sub sp, sp, #20", // locals: x, n, out, scale, rows left
    "    str r1, [sp, #0]",
    "    str r3, [sp, #4]",
    "    ldr r4, [sp, #56]", // out (20 bytes of locals + 9 registers)
    "    str r4, [sp, #8]",
    "    ldr r4, [sp, #60]", // scale
    "    str r4, [sp, #12]",
    "    str r2, [sp, #16]",
    "    add r1, r0, r3",    // the first pair's second row
    "    ldr r4, [sp, #64]", // aligned
    "    cmp r4, #0",
    "    beq 20f",
    "    lstm_q8_rows 1",
    "20:",
    "    lstm_q8_rows 0",
    "90:",
    "    add sp, sp, #20",
    "    pop {{r4-r11, pc}}",
    ".size lstm_core_gemv_q8, . - lstm_core_gemv_q8",
    // One row of a column group: the weight word \w's bytes 0, 2 by SXTB16
    // into r12 against (x0, x2) in r2, then bytes 1, 3 (SXTB16 ROR #8, in
    // place) against (x1, x3) in r3, SMLAD into \acc (with \first, SMUAD
    // starts it: no zeroing).
    ".macro lstm_q8_row first, acc, w",
    "    sxtb16 r12, \\w",
    "    .if \\first",
    "    smuad \\acc, r12, r2",
    "    .else",
    "    smlad \\acc, r12, r2, \\acc",
    "    .endif",
    "    sxtb16 \\w, \\w, ror #8",
    "    smlad \\acc, \\w, r3, \\acc",
    ".endm",
    // One column group of a quad (16 MACs): x as (x0,x2) (x1,x3) in r2, r3,
    // the quad's four rows' four bytes in r4-r7, sums in r8-r11. With \al
    // by LDM (word-aligned w and x), else by LDR (any alignment).
    ".macro lstm_q8_group al, first=0",
    "    .if \\al",
    "    ldm r1!, {{r2, r3}}",
    "    ldm r0!, {{r4-r7}}",
    "    .else",
    "    ldr r2, [r1], #4",
    "    ldr r3, [r1], #4",
    "    ldr r4, [r0], #4",
    "    ldr r5, [r0], #4",
    "    ldr r6, [r0], #4",
    "    ldr r7, [r0], #4",
    "    .endif",
    "    lstm_q8_row \\first, r8, r4",
    "    lstm_q8_row \\first, r9, r5",
    "    lstm_q8_row \\first, r10, r6",
    "    lstm_q8_row \\first, r11, r7",
    ".endm",
    // Every quad from w (r0) to the end ([sp+16]): the groups, \unroll per
    // loop test (with \al the loop runs at least once: n ≥ 4; else it is
    // tested first), then the n % 4 tail columns ([sp+20]; row r's at
    // r0 + r·t: LDRSH, LDRSB, SMLABB), then the four outputs as
    // lstm_q8_store's: VCVT #15, VMUL by the scale. With \fast (n % 4 == 0
    // and at least 2·\unroll groups, a multiple of \unroll) the first
    // \unroll groups are peeled, the first of them starting the sums by
    // SMUAD, and there is no tail.
    ".macro lstm_q8_quads al, unroll, fast=0",
    ".Lquad\\@:",
    "    ldr r1, [sp, #0]", // x
    "    ldr lr, [sp, #4]", // x past its groups
    "    .if \\fast",
    "    lstm_q8_group \\al, 1",
    "    .rept \\unroll - 1",
    "    lstm_q8_group \\al",
    "    .endr",
    "    .else",
    "    mov r8, #0",
    "    mov r9, #0",
    "    mov r10, #0",
    "    mov r11, #0",
    "    .endif",
    "    .if \\al == 0",
    "    cmp r1, lr",
    "    beq .Ltail\\@",
    "    .endif",
    ".Lgroup\\@:",
    "    .rept \\unroll",
    "    lstm_q8_group \\al",
    "    .endr",
    "    cmp r1, lr",
    "    bne .Lgroup\\@",
    ".Ltail\\@:",
    "    .if \\fast == 0",
    "    ldr r3, [sp, #20]", // t = n % 4
    "    cbz r3, .Lstore\\@",
    "    add r7, r3, r3, lsl #1", // 3t
    "    mov lr, r3",
    ".Lcol\\@:",
    "    ldrsh r2, [r1], #2",
    "    ldrsb r4, [r0]",
    "    ldrsb r5, [r0, r3]",
    "    ldrsb r6, [r0, r3, lsl #1]",
    "    ldrsb r12, [r0, r7]",
    "    adds r0, r0, #1",
    "    smlabb r8, r4, r2, r8",
    "    smlabb r9, r5, r2, r9",
    "    smlabb r10, r6, r2, r10",
    "    smlabb r11, r12, r2, r11",
    "    subs lr, lr, #1",
    "    bne .Lcol\\@",
    "    add r0, r0, r7", // past rows 4q+1..4q+3's tails
    "    .endif",
    ".Lstore\\@:",
    "    vmov s0, s1, r8, r9",
    "    vmov s2, s3, r10, r11",
    "    vcvt.f32.s32 s0, s0, #15",
    "    vcvt.f32.s32 s1, s1, #15",
    "    vcvt.f32.s32 s2, s2, #15",
    "    vcvt.f32.s32 s3, s3, #15",
    "    ldr r2, [sp, #8]",  // out
    "    ldr r3, [sp, #12]", // scale
    "    vldmia r3!, {{s4-s7}}",
    "    vmul.f32 s0, s0, s4",
    "    vmul.f32 s1, s1, s5",
    "    vmul.f32 s2, s2, s6",
    "    vmul.f32 s3, s3, s7",
    "    str r3, [sp, #12]",
    "    ldr r4, [sp, #24]", // the gathered column, or null
    "    cmp r4, #0",
    "    beq .Lput\\@",
    // out += (col · col_scale) + b: each int8 converted exactly, one VMUL
    // (dequantize's rounding), the bias added, then onto the product. The
    // two local labels mark this block for bench/py/fw_profile.py, which
    // counts it apart from the product (it is not the matrix's MACs).
    "    lstm_core_region_q8_column_add_\\@:",
    "    ldrsb r5, [r4, #0]",
    "    ldrsb r6, [r4, #1]",
    "    ldrsb r7, [r4, #2]",
    "    ldrsb r12, [r4, #3]",
    "    adds r4, r4, #4",
    "    str r4, [sp, #24]",
    "    vmov s4, s5, r5, r6",
    "    vmov s6, s7, r7, r12",
    "    vcvt.f32.s32 s4, s4",
    "    vcvt.f32.s32 s5, s5",
    "    vcvt.f32.s32 s6, s6",
    "    vcvt.f32.s32 s7, s7",
    "    ldr r3, [sp, #28]", // col_scale
    "    vldmia r3!, {{s8-s11}}",
    "    str r3, [sp, #28]",
    "    vmul.f32 s4, s4, s8",
    "    vmul.f32 s5, s5, s9",
    "    vmul.f32 s6, s6, s10",
    "    vmul.f32 s7, s7, s11",
    "    ldr r3, [sp, #32]", // b
    "    vldmia r3!, {{s8-s11}}",
    "    str r3, [sp, #32]",
    "    vadd.f32 s4, s4, s8",
    "    vadd.f32 s5, s5, s9",
    "    vadd.f32 s6, s6, s10",
    "    vadd.f32 s7, s7, s11",
    "    vadd.f32 s0, s0, s4",
    "    vadd.f32 s1, s1, s5",
    "    vadd.f32 s2, s2, s6",
    "    vadd.f32 s3, s3, s7",
    "    lstm_core_region_end_q8_column_add_\\@:",
    ".Lput\\@:",
    "    vstmia r2!, {{s0-s3}}",
    "    str r2, [sp, #8]",
    "    ldr r12, [sp, #16]", // end of the quads
    "    cmp r0, r12",
    "    bne .Lquad\\@",
    "    b 90f",
    ".endm",
    // void lstm_core_gemv_q8_quads(const i8 *w /* r0 */, const i16 *x /* r1 */,
    //                              u32 quads /* r2, > 0 */, u32 n /* r3, > 0 */,
    //                              f32 *out /* [sp] */, const f32 *scale /* [sp+4] */,
    //                              u32 aligned /* [sp+8] */, const i8 *col /* [sp+12] */,
    //                              const f32 *col_scale /* [sp+16] */, const f32 *b /* [sp+20] */)
    // The 4·quads rows of w in quad order (crate::weight_order: per quad,
    // groups of 16 bytes, four of each row, then the rows' n % 4 tails)
    // against x (n i16s, packed by q15_pack), four rows per pass over x.
    // aligned != 0 promises w and x word-aligned (then every quad and
    // group is). Groups go four per loop test when n/4 is a multiple of
    // four, else one; with n % 4 == 0 and n ≥ 32 as well, the first four
    // are peeled (no zeroing) and there is no tail code. If col is not
    // null, out[k] += (col[k] · col_scale[k]) + b[k] (a gate's gathered
    // input column and bias, as add_q8_column).
    ".section .text.lstm_core_gemv_q8_quads,\"ax\",%progbits",
    ".global lstm_core_gemv_q8_quads",
    ".type lstm_core_gemv_q8_quads,%function",
    ".thumb_func",
    ".p2align 2",
    "lstm_core_gemv_q8_quads:",
    "    push {{r4-r11, lr}}",
    "    sub sp, sp, #36", // locals: x, x end, out, scale, w end, n % 4, col, col_scale, b
    "    str r1, [sp, #0]",
    "    lsrs r4, r3, #2", // column groups
    "    add r5, r1, r4, lsl #3",
    "    str r5, [sp, #4]",
    "    ldr r5, [sp, #72]", // out (36 bytes of locals + 9 registers)
    "    str r5, [sp, #8]",
    "    ldr r5, [sp, #76]", // scale
    "    str r5, [sp, #12]",
    "    ldr r5, [sp, #84]", // col
    "    str r5, [sp, #24]",
    "    ldr r5, [sp, #88]", // col_scale
    "    str r5, [sp, #28]",
    "    ldr r5, [sp, #92]", // b
    "    str r5, [sp, #32]",
    "    mul r5, r2, r3",
    "    add r5, r0, r5, lsl #2", // quads · 4n bytes
    "    str r5, [sp, #16]",
    "    and r5, r3, #3",
    "    str r5, [sp, #20]",
    "    ldr r5, [sp, #80]", // aligned
    "    cmp r5, #0",
    "    beq 30f",
    "    cmp r4, #0", // no whole group: the tested loop
    "    beq 30f",
    "    tst r4, #3",
    "    bne 20f",
    "    cmp r4, #8", // the fast loop: n % 4 == 0 and 8, 12, ... groups
    "    blo 10f",
    "    tst r3, #3",
    "    bne 10f",
    "    lstm_q8_quads 1, 4, 1",
    "10:",
    "    lstm_q8_quads 1, 4",
    "20:",
    "    lstm_q8_quads 1, 1",
    "30:",
    "    lstm_q8_quads 0, 1",
    "90:",
    "    add sp, sp, #36",
    "    pop {{r4-r11, pc}}",
    ".size lstm_core_gemv_q8_quads, . - lstm_core_gemv_q8_quads",
);

const _: () = assert!(expc::ROUND.to_bits() == 0x4B40_0000);

unsafe extern "C" {
    fn lstm_core_fmaf(a: f32, b: f32, c: f32) -> f32;
    fn lstm_core_dot8(a: *const f32, b: *const f32, blocks: u32, lanes: *mut [f32; 8]);
    fn lstm_core_act(v: *mut f32, n: u32, kind: u32, max: f32, t: f32);
    fn lstm_core_act_table(v: *mut f32, n: u32, table: *const f32, kind: u32);
    fn lstm_core_cell(
        i: *const f32,
        f: *const f32,
        g: *const f32,
        o: *const f32,
        c: *mut f32,
        h: *mut f32,
        n: u32,
    );
    fn lstm_core_gemv_q8(
        w: *const i8,
        x: *const i16,
        rows: u32,
        n: u32,
        out: *mut f32,
        scale: *const f32,
        aligned: u32,
    );
    fn lstm_core_gemv_q8_quads(
        w: *const i8,
        x: *const i16,
        quads: u32,
        n: u32,
        out: *mut f32,
        scale: *const f32,
        aligned: u32,
        col: *const i8,
        col_scale: *const f32,
        b: *const f32,
    );
    fn lstm_core_gemv8(
        w: *const f32,
        x: *const f32,
        rows: u32,
        blocks: u32,
        out: *mut f32,
        a: *const f32,
        b: *const f32,
    );
}

/// The Cortex-M4F primitives (the FPU is part of the target, so any value will do).
#[derive(Clone, Copy)]
pub(crate) struct CortexM4F;

impl Arch for CortexM4F {
    /// `VFMA.F32`, through `lstm_core_fmaf`.
    #[inline(always)]
    fn fma(self, a: f32, b: f32, c: f32) -> f32 {
        fmaf(a, b, c)
    }

    /// Whole blocks of eight by `lstm_core_dot8`, the tail by scalar `VFMA`s
    /// into lanes 0, 1, …, then [`reduce8`].
    #[inline]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len(), "dot: lengths differ");
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
        for ((lane, x), y) in l.iter_mut().zip(&a[done..len]).zip(&b[done..len]) {
            *lane = self.fma(*x, *y, *lane);
        }
        reduce8(l)
    }

    /// One `lstm_core_gemv8` call for the whole matrix when rows are a
    /// multiple of eight long, else one [`Arch::dot`] per row.
    #[inline]
    fn gemv(self, w: &[f32], x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(w.len(), out.len() * x.len(), "gemv: matrix size");
        if gemv_routine(w, x, out, None) {
            return;
        }
        if x.is_empty() {
            out.fill(0.0);
            return;
        }
        for (o, row) in out.iter_mut().zip(w.chunks_exact(x.len())) {
            *o = self.dot(row, x);
        }
    }

    /// `col[k] + b[k]` added in `lstm_core_gemv8`'s epilogue when it applies.
    #[inline]
    fn gemv_add(self, w: &[f32], x: &[f32], col: &[f32], b: &[f32], out: &mut [f32]) {
        debug_assert!(
            col.len() == out.len() && b.len() == out.len(),
            "gemv_add: lengths"
        );
        if gemv_routine(w, x, out, Some((col, b))) {
            return;
        }
        self.gemv(w, x, out);
        for ((o, a), b) in out.iter_mut().zip(col).zip(b) {
            *o += *a + *b;
        }
    }

    #[inline]
    fn sigmoid_in_place(self, v: &mut [f32]) {
        act(v, 0, 0.0, 1.0);
    }

    #[inline]
    fn tanh_in_place(self, v: &mut [f32]) {
        act(v, 1, 0.0, 1.0);
    }

    #[inline]
    fn exp_shifted(self, v: &mut [f32], max: f32, t: f32) {
        act(v, 2, max, t);
    }

    /// `lstm_core_act_table`, kind 0.
    #[inline]
    fn sigmoid_table_in_place(self, v: &mut [f32]) {
        act_table(v, 0);
    }

    /// `lstm_core_act_table`, kind 1.
    #[inline]
    fn tanh_table_in_place(self, v: &mut [f32]) {
        act_table(v, 1);
    }

    /// Three passes with the same operations as the scalar definition:
    /// `c = fma(f, c, i·g)` and `h = c`, then `h = tanh_table(h)`
    /// (`lstm_core_act_table`), then `h = o · h`.
    #[inline]
    fn lstm_update_table(
        self,
        i: &[f32],
        f: &[f32],
        g: &[f32],
        o: &[f32],
        c: &mut [f32],
        h: &mut [f32],
    ) {
        let n = units(i, f, g, o, c, h);
        let gates = i[..n].iter().zip(f).zip(g);
        for ((c, h), ((i, f), g)) in c.iter_mut().zip(h.iter_mut()).zip(gates) {
            *c = fmaf(*f, *c, *i * *g);
            *h = *c;
        }
        act_table(&mut h[..n], 1);
        for (h, o) in h[..n].iter_mut().zip(o) {
            *h *= *o;
        }
    }

    /// One `lstm_core_cell` call: one pass, the same operations as the scalar definition.
    #[inline]
    fn lstm_update(self, i: &[f32], f: &[f32], g: &[f32], o: &[f32], c: &mut [f32], h: &mut [f32]) {
        let n = units(i, f, g, o, c, h);
        if let Ok(n @ 1..) = u32::try_from(n) {
            // SAFETY: the six slices hold at least `n` f32s each (the minimum
            // above); the routine reads i, f, g, o and c and writes c and h,
            // `n` each, and saves the callee-saved registers it uses.
            unsafe {
                lstm_core_cell(
                    i.as_ptr(),
                    f.as_ptr(),
                    g.as_ptr(),
                    o.as_ptr(),
                    c.as_mut_ptr(),
                    h.as_mut_ptr(),
                    n,
                );
            }
        }
    }

    /// Each full group of four stored `x0, x2, x1, x3` (what
    /// `lstm_core_gemv_q8`'s `SMLAD`s pair with `SXTB16`'s halves), the
    /// last `n % 4` in order.
    #[inline]
    fn q15_pack(self, h: &[f32], x: &mut [i16]) {
        debug_assert_eq!(h.len(), x.len(), "q15_pack: lengths");
        let mut hs = h.chunks_exact(4);
        let mut xs = x.chunks_exact_mut(4);
        for (x, h) in (&mut xs).zip(&mut hs) {
            x[0] = q15(h[0]);
            x[1] = q15(h[2]);
            x[2] = q15(h[1]);
            x[3] = q15(h[3]);
        }
        for (x, h) in xs.into_remainder().iter_mut().zip(hs.remainder()) {
            *x = q15(*h);
        }
    }

    /// One `lstm_core_gemv_q8` call: `SXTB16` + `SMLAD`, two rows per
    /// pass over `x`, `LDRD`/`LDM` when the rows and `x` are word-aligned
    /// (`w` on a 4-byte boundary and `n % 4 == 0`), else `LDR`s at any
    /// alignment.
    #[inline]
    fn gemv_q8(self, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
        let (n, rows) = (x.len(), out.len());
        debug_assert!(
            w.len() == rows * n && scale.len() == rows,
            "gemv_q8: matrix size"
        );
        let shapes = (u32::try_from(n), u32::try_from(rows));
        let (Ok(n32 @ 1..), Ok(rows32 @ 1..)) = shapes else {
            // No columns (or no rows): the reference writes q8_output(0, scale).
            super::Portable.gemv_q8(w, scale, x, out);
            return;
        };
        if w.len() < rows * n || scale.len() < rows {
            // A caller bug (debug-asserted above); never read out of bounds.
            return;
        }
        let aligned = n.is_multiple_of(4)
            && (w.as_ptr() as usize).is_multiple_of(4)
            && (x.as_ptr() as usize).is_multiple_of(4);
        // SAFETY: `w` holds `rows · n` bytes, `x` `n` i16s, `scale` and `out`
        // `rows` f32s (checked above); the routine reads exactly those and
        // writes `rows` f32s to `out`, uses word loads that need alignment
        // only when `aligned` says the rows and `x` are word-aligned, and
        // saves the callee-saved registers it uses (s0-s3 are scratch).
        unsafe {
            lstm_core_gemv_q8(
                w.as_ptr(),
                x.as_ptr(),
                rows32,
                n32,
                out.as_mut_ptr(),
                scale.as_ptr(),
                u32::from(aligned),
            );
        }
    }

    /// One `lstm_core_gemv_q8_quads` call for the whole quads (four rows
    /// per pass over `x`: `LDM` of 16 weight bytes and two words of `x`,
    /// `SXTB16` + `SMLAD`, when `w` and `x` are word-aligned; else `LDR`s),
    /// then [`Arch::gemv_q8`] over the `rows % 4` row-major rows after them.
    #[inline]
    fn gemv_q8_quads(self, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) {
        gemv_q8_quads(w, scale, x, out, None);
    }

    /// As [`Arch::gemv_q8_quads`], the column and bias added in
    /// `lstm_core_gemv_q8_quads`'s epilogue.
    #[inline]
    fn gemv_q8_quads_add(
        self,
        w: &[i8],
        scale: &[f32],
        x: &[i16],
        col: &[i8],
        col_scale: &[f32],
        b: &[f32],
        out: &mut [f32],
    ) {
        gemv_q8_quads(w, scale, x, out, Some((col, col_scale, b)));
    }
}

/// [`Arch::gemv_q8_quads`] (and, with `add = (col, col_scale, b)`,
/// [`Arch::gemv_q8_quads_add`]) on the Cortex-M4F (out of line: one copy
/// for every call site).
#[inline(never)]
fn gemv_q8_quads(
    w: &[i8],
    scale: &[f32],
    x: &[i16],
    out: &mut [f32],
    add: Option<(&[i8], &[f32], &[f32])>,
) {
    let (n, rows) = (x.len(), out.len());
    debug_assert!(
        w.len() == rows * n && scale.len() == rows,
        "gemv_q8_quads: matrix size"
    );
    let quads = rows / 4;
    let shapes = (u32::try_from(n), u32::try_from(quads));
    let fits = w.len() >= rows * n
        && scale.len() >= rows
        && add.is_none_or(|(c, s, b)| c.len() >= rows && s.len() >= rows && b.len() >= rows);
    let (Ok(n32 @ 1..), Ok(quads32 @ 1..), true) = (shapes.0, shapes.1, fits) else {
        // No columns, or no whole quad (the matrix is row-major), or (a
        // caller bug, debug-asserted) short slices: never read out of bounds.
        CortexM4F.gemv_q8(w, scale, x, out);
        if let Some((c, s, b)) = add {
            add_q8_column(out, c, s, b);
        }
        return;
    };
    let aligned =
        (w.as_ptr() as usize).is_multiple_of(4) && (x.as_ptr() as usize).is_multiple_of(4);
    let (col, col_scale, b) = match add {
        Some((c, s, b)) => (c.as_ptr(), s.as_ptr(), b.as_ptr()),
        None => (core::ptr::null(), core::ptr::null(), core::ptr::null()),
    };
    // SAFETY: `w` holds `rows · n ≥ 4·quads · n` bytes, `x` `n` i16s,
    // `scale`, `out` and (if not null) `col`, `col_scale` and `b` at least
    // `4·quads` values (checked above); the routine reads exactly
    // `4·quads · n` bytes, `n` i16s and `4·quads` of the others and writes
    // `4·quads` f32s, uses `LDM` only when `aligned` says `w` and `x` are
    // word-aligned (every quad is `4n` bytes, so stays so), and saves the
    // callee-saved registers it uses (s0-s11 are scratch).
    unsafe {
        lstm_core_gemv_q8_quads(
            w.as_ptr(),
            x.as_ptr(),
            quads32,
            n32,
            out.as_mut_ptr(),
            scale.as_ptr(),
            u32::from(aligned),
            col,
            col_scale,
            b,
        );
    }
    let full = 4 * quads;
    if full < rows {
        let rest = &mut out[full..rows];
        CortexM4F.gemv_q8(&w[full * n..rows * n], &scale[full..rows], x, rest);
        if let Some((c, s, b)) = add {
            add_q8_column(rest, &c[full..rows], &s[full..rows], &b[full..rows]);
        }
    }
}

/// Calls `lstm_core_gemv8` when the rows are a whole number of eight-blocks;
/// `add` is the gate's `(col, b)` to add as `out[k] += col[k] + b[k]`.
/// Returns false (having done nothing) when the shapes do not suit the routine.
#[inline]
fn gemv_routine(w: &[f32], x: &[f32], out: &mut [f32], add: Option<(&[f32], &[f32])>) -> bool {
    let n = x.len();
    let rows = out.len();
    let (a, b) = match add {
        Some((a, b)) if a.len() >= rows && b.len() >= rows => (a.as_ptr(), b.as_ptr()),
        Some(_) => return false,
        None => (core::ptr::null(), core::ptr::null()),
    };
    if let (Ok(r @ 1..), Ok(blocks @ 1..)) = (u32::try_from(rows), u32::try_from(n / 8))
        && n.is_multiple_of(8)
        && w.len() >= rows * n
    {
        // SAFETY: `w` holds `rows · n` f32s and `x` holds `n = 8 · blocks`;
        // `a` and `b` are null or hold at least `rows` f32s. The routine
        // reads exactly those, writes `rows` f32s to `out` (its length),
        // and saves the callee-saved registers it uses.
        unsafe {
            lstm_core_gemv8(w.as_ptr(), x.as_ptr(), r, blocks, out.as_mut_ptr(), a, b);
        }
        return true;
    }
    false
}

/// Runs `lstm_core_act_table` over `v` (kind 0 sigmoid, 1 tanh: [`crate::lut`]).
#[inline]
fn act_table(v: &mut [f32], kind: u32) {
    if let Ok(n @ 1..) = u32::try_from(v.len()) {
        // SAFETY: the routine reads and writes exactly the `n` f32s of `v`,
        // reads the 514 entries of the padded table (its index is at most
        // 512, plus one) and uses only caller-saved FPU registers; it saves
        // r4-r6.
        unsafe { lstm_core_act_table(v.as_mut_ptr(), n, SIGMOID_TABLE_PADDED.as_ptr(), kind) };
    }
}

/// Runs `lstm_core_act` over `v` (kind 0 sigmoid, 1 tanh, 2 softmax numerators).
#[inline]
fn act(v: &mut [f32], kind: u32, max: f32, t: f32) {
    if let Ok(n @ 1..) = u32::try_from(v.len()) {
        // SAFETY: the routine reads and writes exactly the `n` f32s of `v`,
        // and saves the callee-saved s16-s31 it uses.
        unsafe { lstm_core_act(v.as_mut_ptr(), n, kind, max, t) };
    }
}

/// `a·b + c` rounded once: `VFMA.F32`, through `lstm_core_fmaf` (also the
/// portable kernel's `fma` on this target: the same bits as `libm::fmaf`).
#[inline(always)]
pub(crate) fn fmaf(a: f32, b: f32, c: f32) -> f32 {
    // SAFETY: the routine reads its three arguments from s0–s2 and returns in
    // s0, as the hard-float AAPCS says; it touches no memory.
    unsafe { lstm_core_fmaf(a, b, c) }
}

/// [`cell::layer_step_of`] on the Cortex-M4F: only the body of cell kind `CELL`.
pub(crate) fn layer_step_of<const CELL: u8>(
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    h: &mut [f32],
    c: &mut [f32],
    scratch: &mut [f32],
) {
    cell::layer_step_of::<_, CELL>(CortexM4F, layer, x, h, c, scratch);
}

/// Units `rows` of one layer step ([`cell::layer_step_rows`]) on the Cortex-M4F.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_step_rows(
    layer: &RecurrentView<'_>,
    x: Input<'_>,
    rows: Range<usize>,
    h_prev: &[f32],
    c: &mut [f32],
    h_next: &mut [f32],
    scratch: &mut [f32],
) {
    cell::layer_step_rows(CortexM4F, layer, x, rows, h_prev, c, h_next, scratch);
}

/// The output layer ([`cell::logits`]) on the Cortex-M4F.
pub(crate) fn logits(output: &OutputView<'_>, h: &[f32], hq: &mut [i16], out: &mut [f32]) {
    cell::logits(CortexM4F, output, h, hq, out);
}

/// Softmax ([`cell::softmax`]) on the Cortex-M4F.
pub(crate) fn softmax(v: &mut [f32], temperature: f32) {
    cell::softmax(CortexM4F, v, temperature);
}

/// [`Arch::dot`] on the Cortex-M4F.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    CortexM4F.dot(a, b)
}

/// [`Arch::sigmoid_table_in_place`] (`tanh`: [`Arch::tanh_table_in_place`]) on the Cortex-M4F.
pub(crate) fn activate_table(v: &mut [f32], tanh: bool) {
    if tanh {
        CortexM4F.tanh_table_in_place(v);
    } else {
        CortexM4F.sigmoid_table_in_place(v);
    }
}
