//! xtask end to end: the built `xtask` binary runs `step 0` the way a learner does, with its
//! own services, nested cargo and nextest. These are the slow tests of this crate (each
//! builds and runs step 0's tests); everything else is a unit test in `src/`.
//!
//! Each run gets a private `TMPDIR`, so whatever it starts is recognisable afterwards: a
//! leftover temp dir of a local server is named `stepwise-*` there, and a leftover process
//! carries that dir in its command line.

mod step;
