//! The ferrolb-controller binary.

fn main() {}
