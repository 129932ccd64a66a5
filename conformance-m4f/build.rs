//! Puts the firmware's QEMU memory layout (`../firmware-example/memory-mps2-an386.x`,
//! one file for both crates) on the linker's search path as `memory.x`, where
//! cortex-m-rt's `link.x` finds it.

use std::path::PathBuf;

fn main() -> Result<(), String> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let src = manifest.join("../firmware-example/memory-mps2-an386.x");
    std::fs::copy(&src, out.join("memory.x"))
        .map_err(|e| format!("copying {}: {e}", src.display()))?;
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed={}", src.display());
    println!("cargo::rerun-if-changed=build.rs");
    Ok(())
}
