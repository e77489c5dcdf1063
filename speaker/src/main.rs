//! The ferrolb-speaker binary.

fn main() {}
