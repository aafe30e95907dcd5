//! Placeholder: the postgres snapshot benchmark lands with its collector.

fn main() {}
