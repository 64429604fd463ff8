//! Commands run in this process, as cloudformation-guard's test runner runs
//! its commands: the arguments in, the output and the errors in buffers.
//! It is `cli::run_from`, the binary's own path from arguments to exit
//! status, without a process per test.

/// What a command run in process printed, and its exit status.
#[derive(Debug)]
pub struct Ran {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// An exit status, read as `std::process::ExitStatus` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(u8);

impl Status {
    pub fn success(self) -> bool {
        self.0 == 0
    }

    pub fn code(self) -> Option<i32> {
        Some(i32::from(self.0))
    }
}

/// Runs `chatstack ARGS...` in this process.
pub fn run(args: &[&str]) -> Ran {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let argv = std::iter::once("chatstack").chain(args.iter().copied());
    let status = chatstack::cli::run_from(argv, &mut stdout, &mut stderr);
    Ran {
        status: Status(status),
        stdout,
        stderr,
    }
}
