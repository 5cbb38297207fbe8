//! Connections that never finish their headers (slowloris), over raw TCP: the server must cut
//! them after its header-read timeout and keep answering everyone else meanwhile.

use crate::Case;

pub(super) fn cases() -> Vec<Case> {
    Vec::new()
}
