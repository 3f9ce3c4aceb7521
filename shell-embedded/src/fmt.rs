//! Logging shim: `defmt` when the `defmt` feature is on, nothing otherwise
//! (a host build then needs no defmt linker script). Arguments are always
//! type-checked, so both builds see the same code.

macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($arg)*);
        #[cfg(not(feature = "defmt"))]
        let _ = ($crate::fmt::ignore(format_args!($($arg)*)));
    }};
}

macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($arg)*);
        #[cfg(not(feature = "defmt"))]
        let _ = ($crate::fmt::ignore(format_args!($($arg)*)));
    }};
}

/// Swallows a formatted message in builds without a logger.
#[cfg(not(feature = "defmt"))]
#[inline(always)]
pub(crate) fn ignore(_: core::fmt::Arguments<'_>) {}
