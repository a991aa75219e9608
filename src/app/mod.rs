//! The applications built on the core: what the `wgsl-nn` command does
//! (jobs), the file formats it reads, the benchmark and self-test, the
//! tuner's cache, and plots. Nothing in the core imports this module; it is
//! compiled with the `app` feature (on by default).

pub mod bench;
pub mod heatmap;
pub mod io;
pub mod jobs;
pub mod mutants;
pub mod profile_svg;
pub mod selftest;
pub mod tune;
