//! The minimal runtime of the freestanding check binary: process entry
//! (`_start`), `exit`/`write` system calls, the panic handler, the memory
//! functions `core` expects the C library to provide, and a run-once static
//! cell for the engine's storage.
//!
//! This is the only module allowed to use `unsafe` (the crate root denies
//! it): without libc there is no one else to provide these symbols, and a
//! freestanding entry point and raw system calls cannot be written safely.
//! The rest of the crate uses only the safe wrappers below.
//!
//! x86_64 Linux only (the one target this machine can build for).
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::panic::PanicInfo;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};

// ---------------------------------------------------------------------------
// Entry and exit.

// The kernel enters `_start` with `rsp` 16-byte aligned and no return
// address, so it is not an ordinary function: clear the frame pointer, keep
// the stack aligned for the call, and never return.
core::arch::global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    call {entry}",
    "    ud2",
    entry = sym entry,
);

extern "C" fn entry() -> ! {
    exit(crate::run())
}

/// Ends the process with `code` (Linux `exit`, syscall 60).
pub fn exit(code: i32) -> ! {
    // SAFETY: `exit` takes one integer argument and does not return.
    unsafe {
        core::arch::asm!("syscall", in("rax") 60usize, in("rdi") code as isize, options(noreturn, nostack));
    }
}

/// Writes `msg` to standard error (Linux `write`, syscall 1), best effort.
pub fn eprint(msg: &[u8]) {
    // SAFETY: `write(2, ptr, len)` only reads `len` bytes at `ptr`, which
    // `msg` guarantees are valid; the kernel clobbers rcx and r11.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") 1usize => _,
            in("rdi") 2usize,
            in("rsi") msg.as_ptr(),
            in("rdx") msg.len(),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, readonly),
        );
    }
}

/// Exit status of a panic (as for a panicking Rust program).
pub const PANIC_EXIT: i32 = 101;

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    eprint(b"nostd-check: panicked\n");
    exit(PANIC_EXIT)
}

/// The host's precompiled `core` is built for unwinding and its unwind
/// tables name this symbol, so the link needs it (in release builds too).
/// With `panic = "abort"` nothing ever unwinds: it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

// ---------------------------------------------------------------------------
// Memory functions. `core` and the compiler emit calls to these and expect
// libc to define them. They copy byte by byte through volatile accesses so
// that the optimiser cannot recognise the loop and turn it back into a call
// to the very function being defined (infinite recursion). Slow, and fine:
// this binary processes a handful of frames.

/// # Safety
/// C `memcpy`: `src` and `dest` valid for `n` bytes, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        write_volatile(dest.add(i), read_volatile(src.add(i)));
        i += 1;
    }
    dest
}

/// # Safety
/// C `memmove`: `src` and `dest` valid for `n` bytes, may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) <= (src as usize) {
        let mut i = 0;
        while i < n {
            write_volatile(dest.add(i), read_volatile(src.add(i)));
            i += 1;
        }
    } else {
        let mut i = n;
        while i > 0 {
            i -= 1;
            write_volatile(dest.add(i), read_volatile(src.add(i)));
        }
    }
    dest
}

/// # Safety
/// C `memset`: `dest` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        write_volatile(dest.add(i), c as u8);
        i += 1;
    }
    dest
}

/// # Safety
/// C `memcmp`: `a` and `b` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        let (x, y) = (read_volatile(a.add(i)), read_volatile(b.add(i)));
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// # Safety
/// C `bcmp`: `a` and `b` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    memcmp(a, b, n)
}

// ---------------------------------------------------------------------------
// Static storage without an allocator.

/// A `static` slot for one `T` that can be claimed once, giving a
/// `&'static mut` to uninitialised memory (the engine's storage is too big
/// to build on a freestanding stack and `Engine` borrows it).
pub struct StaticCell<T> {
    taken: AtomicBool,
    slot: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the slot is handed out at most once (guarded by `taken`), so no
// two threads can ever reach it.
unsafe impl<T: Send> Sync for StaticCell<T> {}

impl<T> StaticCell<T> {
    /// An unclaimed cell.
    pub const fn new() -> Self {
        StaticCell { taken: AtomicBool::new(false), slot: UnsafeCell::new(MaybeUninit::uninit()) }
    }

    /// The slot on the first call, `None` afterwards.
    // `&self` to `&mut`: sound because `taken` makes it happen at most once.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut MaybeUninit<T>> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: `taken` was false, so this is the only reference ever made.
        Some(unsafe { &mut *self.slot.get() })
    }
}
