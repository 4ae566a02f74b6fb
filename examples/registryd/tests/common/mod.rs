//! The registryd process the integration tests start: spawned with the test's arguments, waited
//! for until its start-up line names the address it serves, its log kept for tests that look at
//! it (and drained, so registryd never blocks on a full pipe), killed when dropped.
#![allow(dead_code)] // Each test file uses a part.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

/// A running registryd.
pub(crate) struct Registryd {
    child: Child,
    /// The `host:port` it serves, from its start-up line.
    pub(crate) addr: String,
    log: Arc<Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Registryd {
    /// Starts `registryd ARGS…` and waits until it serves; panics with its log if it exits
    /// first.
    pub(crate) fn start<I, S>(args: I) -> Registryd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_registryd"))
            .args(&args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("registryd starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = String::new();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("registryd {args:?} exited before serving:\n{seen}");
            };
            seen.push_str(&line);
            seen.push('\n');
            if let Some(addr) = served_address(&line) {
                break addr;
            }
        };
        let log = Arc::new(Mutex::new(seen));
        let sink = log.clone();
        let drain = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        Registryd {
            child,
            addr,
            log,
            drain: Some(drain),
        }
    }

    /// Everything it logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops it and returns its whole log.
    pub(crate) fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
        self.log()
    }

    /// Sends a signal (`-TERM`, `-KILL`) and waits for the exit.
    pub(crate) fn signal(&mut self, sig: &str) -> ExitStatus {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success());
        self.child.wait().expect("registryd exits")
    }
}

impl Drop for Registryd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a start-up line (`… registry on http://127.0.0.1:5001 serving …`).
fn served_address(line: &str) -> Option<String> {
    let rest = line
        .split(" on http://")
        .nth(1)
        .or_else(|| line.split(" on https://").nth(1))?;
    rest.split(' ').next().map(str::to_owned)
}
