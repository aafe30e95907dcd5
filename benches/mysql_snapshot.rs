//! Placeholder: the mysql snapshot benchmark lands with its collector.

fn main() {}
