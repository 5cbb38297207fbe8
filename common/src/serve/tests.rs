//! The accept loop's pauses after failed accepts: resource exhaustion pauses, doubling to a
//! ceiling and starting over after a success; a connection that went away does not.

use std::io;
use std::time::Duration;

use super::AcceptFailures;

fn out_of_descriptors() -> io::Error {
    // EMFILE, what `accept` returns at the open-file limit.
    io::Error::from_raw_os_error(24)
}

#[test]
fn failed_accepts_pause_doubling_up_to_a_ceiling() {
    let mut failures = AcceptFailures::default();
    let pauses: Vec<_> = (0..12)
        .map(|_| failures.failed(&out_of_descriptors()).expect("a pause"))
        .collect();
    assert_eq!(pauses[0], AcceptFailures::FIRST_PAUSE);
    assert_eq!(pauses[1], AcceptFailures::FIRST_PAUSE * 2);
    assert!(pauses.windows(2).all(|w| w[0] <= w[1]), "{pauses:?}");
    assert_eq!(pauses[11], AcceptFailures::MAX_PAUSE);
    assert_eq!(failures.in_a_row, 12);
}

#[test]
fn a_successful_accept_starts_the_pauses_over() {
    let mut failures = AcceptFailures::default();
    for _ in 0..5 {
        failures.failed(&out_of_descriptors());
    }
    failures.recovered();
    assert_eq!(failures.in_a_row, 0);
    assert_eq!(
        failures.failed(&out_of_descriptors()),
        Some(AcceptFailures::FIRST_PAUSE)
    );
}

#[test]
fn a_connection_reset_before_it_was_accepted_does_not_pause() {
    let mut failures = AcceptFailures::default();
    for kind in [
        io::ErrorKind::ConnectionAborted,
        io::ErrorKind::ConnectionReset,
    ] {
        assert_eq!(failures.failed(&io::Error::from(kind)), None::<Duration>);
    }
    assert_eq!(failures.in_a_row, 0);
}
