#![allow(dead_code, missing_debug_implementations)]
pub mod ops;
