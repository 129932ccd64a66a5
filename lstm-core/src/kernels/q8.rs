//! The q8 dtype's dispatch: [`Kernel`]'s int8 × Q15 entry points and
//! [`Q8Impl`], which names each implementation of them.

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
use super::cortex_m;
use super::{Arch, Kernel, Portable, arch, check_len};
#[cfg(target_arch = "x86_64")]
use super::{x86_64, x86_vnni};
use crate::Error;
use crate::weight_order::WeightOrder;

impl Kernel {
    /// Which implementation runs this kernel's q8 product on this CPU
    /// (x86-64 picks its best `vpdpwssd` at run time).
    pub fn q8_impl(self) -> Q8Impl {
        match self.usable() {
            Kernel::Portable => Q8Impl::Portable,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => match x86_vnni::best() {
                x86_vnni::Level::Avx512 => Q8Impl::Avx512Vnni,
                x86_vnni::Level::AvxVnni => Q8Impl::AvxVnni,
                x86_vnni::Level::None => Q8Impl::Avx2,
            },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Kernel::CortexM4F => Q8Impl::CortexM4Dsp,
        }
    }

    /// The state `h` as Q15 ([`crate::quant::q15`]) in the order this
    /// kernel's [`Kernel::gemv_q8`] reads (its own permutation of the
    /// indices: pass `x` only to the same kernel's products).
    ///
    /// # Errors
    /// `x` not as long as `h`.
    pub fn q15_state(self, h: &[f32], x: &mut [i16]) -> Result<(), Error> {
        self.q8_impl().q15_state(h, x)
    }

    /// The int8 × Q15 product `out[k] = ((Σ_j w[k][j]·x_j) as f32 · 2^-15) · scale[k]`
    /// (the sum exact in i32; see [`crate::quant`]) of a row-major `w` of
    /// `out.len()` rows of `x.len()` int8 values in `[-127, 127]`, one
    /// scale per row, `x` from this kernel's [`Kernel::q15_state`].
    ///
    /// # Errors
    /// Wrong lengths, or rows longer than [`crate::format::MAX_Q8_ROW`]
    /// ([`Error::AccumulatorBound`]).
    pub fn gemv_q8(self, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) -> Result<(), Error> {
        self.q8_impl().gemv_q8(w, scale, x, out)
    }

    /// [`Kernel::gemv_q8`] over a `w` stored in `order`
    /// ([`crate::weight_order`]): the same bits for the same matrix in
    /// either order.
    ///
    /// # Errors
    /// As [`Kernel::gemv_q8`].
    pub fn gemv_q8_in(
        self,
        order: WeightOrder,
        w: &[i8],
        scale: &[f32],
        x: &[i16],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.q8_impl().gemv_q8_in(order, w, scale, x, out)
    }

    /// [`Kernel::gemv_q8`] plus a gathered q8 input column and a bias:
    /// `out[k] = gemv_q8(w, scale, x)[k] + (col[k]·col_scale[k] + b[k])`.
    ///
    /// # Errors
    /// As [`Kernel::gemv_q8`], and `col`, `col_scale`, `b` not `out.len()` long.
    #[allow(clippy::too_many_arguments)]
    pub fn gemv_q8_add(
        self,
        w: &[i8],
        scale: &[f32],
        x: &[i16],
        col: &[i8],
        col_scale: &[f32],
        b: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.q8_impl()
            .gemv_q8_add(w, scale, x, col, col_scale, b, out)
    }
}

/// One implementation of the q8 primitives (`q15_pack`, `gemv_q8`,
/// `gemv_q8_add`); a [`Kernel`] runs one of them ([`Kernel::q8_impl`]).
/// Listed separately so the conformance suite and the benchmarks reach
/// every x86-64 path the run-time choice would hide.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Q8Impl {
    /// The scalar reference.
    Portable,
    /// AVX2: `vpmovsxbw`, `vpmaddwd`, `vpaddd`.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-VNNI: the 256-bit VEX `vpdpwssd`.
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
    /// AVX-512 VNNI: the 512-bit `vpdpwssd`.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
    /// The Cortex-M4's DSP extension: `SXTB16`, `SMLAD`.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    CortexM4Dsp,
}

impl Q8Impl {
    /// Every implementation compiled for this target.
    #[cfg(target_arch = "x86_64")]
    pub const ALL: &'static [Q8Impl] = &[
        Q8Impl::Portable,
        Q8Impl::Avx2,
        Q8Impl::AvxVnni,
        Q8Impl::Avx512Vnni,
    ];
    /// Every implementation compiled for this target.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    pub const ALL: &'static [Q8Impl] = &[Q8Impl::Portable, Q8Impl::CortexM4Dsp];
    /// Every implementation compiled for this target.
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
    )))]
    pub const ALL: &'static [Q8Impl] = &[Q8Impl::Portable];

    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Q8Impl::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Q8Impl::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Q8Impl::AvxVnni => "avx-vnni",
            #[cfg(target_arch = "x86_64")]
            Q8Impl::Avx512Vnni => "avx512-vnni",
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Q8Impl::CortexM4Dsp => "cortex-m4-dsp",
        }
    }

    /// Makes this the best product [`Kernel::q8_impl`] may choose on
    /// x86-64 (`Avx512Vnni`, the default, allows all): the conformance suite
    /// runs whole networks through each. Every product gives the same bits,
    /// so this changes speed only; elsewhere it does nothing.
    #[doc(hidden)]
    pub fn cap_best(self) {
        #[cfg(target_arch = "x86_64")]
        match self {
            Q8Impl::Avx512Vnni => x86_vnni::set_cap(x86_vnni::Level::Avx512),
            Q8Impl::AvxVnni => x86_vnni::set_cap(x86_vnni::Level::AvxVnni),
            _ => x86_vnni::set_cap(x86_vnni::Level::None),
        }
    }

    /// Whether this implementation needs a CPU extension beyond the kernel
    /// it belongs to (AVX-VNNI, AVX-512 VNNI on top of AVX2 and FMA).
    pub const fn is_extension(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Q8Impl::AvxVnni | Q8Impl::Avx512Vnni => true,
            _ => false,
        }
    }

    /// Whether the running CPU can execute this implementation (one it
    /// cannot run falls back to [`Q8Impl::Portable`]).
    pub fn runs_here(self) -> bool {
        self.usable() == self
    }

    fn usable(self) -> Q8Impl {
        let ok = match self {
            #[cfg(target_arch = "x86_64")]
            Q8Impl::Avx2 => x86_vnni::supported(x86_vnni::Level::None),
            #[cfg(target_arch = "x86_64")]
            Q8Impl::AvxVnni => x86_vnni::supported(x86_vnni::Level::AvxVnni),
            #[cfg(target_arch = "x86_64")]
            Q8Impl::Avx512Vnni => x86_vnni::supported(x86_vnni::Level::Avx512),
            _ => true,
        };
        if ok { self } else { Q8Impl::Portable }
    }

    /// As [`Kernel::q15_state`], with this implementation.
    ///
    /// # Errors
    /// `x` not as long as `h`.
    pub fn q15_state(self, h: &[f32], x: &mut [i16]) -> Result<(), Error> {
        check_len(x.len(), h.len())?;
        match self.usable() {
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Q8Impl::CortexM4Dsp => cortex_m::CortexM4F.q15_pack(h, x),
            _ => Portable.q15_pack(h, x),
        }
        Ok(())
    }

    /// As [`Kernel::gemv_q8`], with this implementation.
    ///
    /// # Errors
    /// As [`Kernel::gemv_q8`].
    pub fn gemv_q8(self, w: &[i8], scale: &[f32], x: &[i16], out: &mut [f32]) -> Result<(), Error> {
        check_q8(w, scale, x, out)?;
        match self.usable() {
            Q8Impl::Portable => Portable.gemv_q8(w, scale, x, out),
            // SAFETY (all three x86-64 arms): `usable` returned the
            // implementation only after checking the CPU has its features.
            #[cfg(target_arch = "x86_64")]
            Q8Impl::Avx2 => unsafe { x86_64::gemv_q8_avx2(w, scale, x, out) },
            #[cfg(target_arch = "x86_64")]
            Q8Impl::AvxVnni => unsafe { x86_vnni::gemv_q8_vex(w, scale, x, out) },
            #[cfg(target_arch = "x86_64")]
            Q8Impl::Avx512Vnni => unsafe { x86_vnni::gemv_q8_512(w, scale, x, out) },
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Q8Impl::CortexM4Dsp => cortex_m::CortexM4F.gemv_q8(w, scale, x, out),
        }
        Ok(())
    }

    /// As [`Kernel::gemv_q8_in`], with this implementation (x86-64 runs
    /// quad order by the portable loop: host views are row-major).
    ///
    /// # Errors
    /// As [`Kernel::gemv_q8`].
    pub fn gemv_q8_in(
        self,
        order: WeightOrder,
        w: &[i8],
        scale: &[f32],
        x: &[i16],
        out: &mut [f32],
    ) -> Result<(), Error> {
        if order == WeightOrder::RowMajor {
            return self.gemv_q8(w, scale, x, out);
        }
        check_q8(w, scale, x, out)?;
        match self.usable() {
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Q8Impl::CortexM4Dsp => cortex_m::CortexM4F.gemv_q8_quads(w, scale, x, out),
            _ => Portable.gemv_q8_quads(w, scale, x, out),
        }
        Ok(())
    }

    /// As [`Kernel::gemv_q8_add`], with this implementation.
    ///
    /// # Errors
    /// As [`Kernel::gemv_q8_add`].
    #[allow(clippy::too_many_arguments)]
    pub fn gemv_q8_add(
        self,
        w: &[i8],
        scale: &[f32],
        x: &[i16],
        col: &[i8],
        col_scale: &[f32],
        b: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        check_len(col.len(), out.len())?;
        check_len(col_scale.len(), out.len())?;
        check_len(b.len(), out.len())?;
        self.gemv_q8(w, scale, x, out)?;
        arch::add_q8_column(out, col, col_scale, b);
        Ok(())
    }

    /// As [`Q8Impl::gemv_q8_add`] over a `w` stored in `order`
    /// ([`crate::weight_order`]; in quad order the Cortex-M4F adds the
    /// column and bias in its routine's epilogue).
    ///
    /// # Errors
    /// As [`Kernel::gemv_q8_add`].
    #[allow(clippy::too_many_arguments)]
    pub fn gemv_q8_add_in(
        self,
        order: WeightOrder,
        w: &[i8],
        scale: &[f32],
        x: &[i16],
        col: &[i8],
        col_scale: &[f32],
        b: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        if order == WeightOrder::RowMajor {
            return self.gemv_q8_add(w, scale, x, col, col_scale, b, out);
        }
        check_len(col.len(), out.len())?;
        check_len(col_scale.len(), out.len())?;
        check_len(b.len(), out.len())?;
        check_q8(w, scale, x, out)?;
        match self.usable() {
            #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
            Q8Impl::CortexM4Dsp => {
                cortex_m::CortexM4F.gemv_q8_quads_add(w, scale, x, col, col_scale, b, out);
            }
            _ => Portable.gemv_q8_quads_add(w, scale, x, col, col_scale, b, out),
        }
        Ok(())
    }
}

/// The q8 product's lengths and the accumulator bound.
fn check_q8(w: &[i8], scale: &[f32], x: &[i16], out: &[f32]) -> Result<(), Error> {
    let n = x.len();
    if n > crate::format::MAX_Q8_ROW {
        return Err(Error::AccumulatorBound {
            name: "n",
            n,
            max: crate::format::MAX_Q8_ROW,
        });
    }
    check_len(scale.len(), out.len())?;
    if w.len() != out.len() * n {
        return Err(Error::TensorLength {
            tensor: "w",
            expected: out.len() * n,
            found: w.len(),
        });
    }
    Ok(())
}
