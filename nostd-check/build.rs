//! Links the check binary freestanding: no C runtime start files (`_start`
//! comes from `src/rt.rs`), no libc or libgcc, and no dynamic loader.
//! Anything in the dependency graph that needs one of those fails to link.

fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
