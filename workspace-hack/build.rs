//! Empty: a build script makes cargo take the crate's build dependencies into account, which
//! unifies the features of the proc-macros' and build scripts' dependencies too.

fn main() {}
