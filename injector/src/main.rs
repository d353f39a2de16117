//! `sidekey-injector`: the Kubernetes mutating admission webhook that adds sidekey to annotated pods.
//!
//! Not built yet; the binary exists so the workspace layout and packaging are in place.

fn main() {
    eprintln!("sidekey-injector: not implemented yet");
    std::process::exit(64);
}
