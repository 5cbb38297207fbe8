//! Ctrl-C, SIGTERM and SIGHUP while a command waits on a child (nextest, a server).
//!
//! By default such a signal kills xtask at once: its services are still stopped (provision's
//! lifelines notice the death), but no report is printed. With [`catch`], xtask survives the
//! signal, the child (which got the same Ctrl-C from the terminal, or is told by us) winds
//! down, and the command stops its services in order and reports what finished.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Set once a stop signal arrived.
#[derive(Clone, Default)]
pub struct Interrupted {
    flag: Arc<AtomicBool>,
    /// The child that SIGTERM and SIGHUP are passed on to (0: none). Ctrl-C is not passed
    /// on: the terminal sends it to the child as well, and a second one would hurry it.
    child: Arc<AtomicU32>,
}

impl Interrupted {
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Passes SIGTERM and SIGHUP on to `pid` from now on.
    pub fn forward_to(&self, pid: u32) {
        self.child.store(pid, Ordering::SeqCst);
    }

    fn forward(&self) {
        let pid = self.child.load(Ordering::SeqCst);
        if pid != 0 {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

/// Catches stop signals from now on, on a thread of its own.
pub fn catch() -> Interrupted {
    let flag = Interrupted::default();
    let set = flag.clone();
    let (ready, registered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            let _ = ready.send(());
            loop {
                let forward = tokio::select! {
                    _ = int.recv() => false,
                    _ = term.recv() => true,
                    _ = hup.recv() => true,
                };
                set.flag.store(true, Ordering::SeqCst);
                if forward {
                    set.forward();
                }
            }
        });
    });
    // The handlers are in place before the caller starts its child.
    let _ = registered.recv_timeout(std::time::Duration::from_secs(2));
    flag
}
