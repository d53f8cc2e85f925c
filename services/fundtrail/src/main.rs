//! The `fundtrail` binary.

fn main() {
    println!("fundtrail {}", env!("CARGO_PKG_VERSION"));
}
