//! `cargo xtask invoke FUNCTION [--data-file FILE]`: one invocation of a function on the
//! running dev stack, through its `cargo lambda watch` on 127.0.0.1:$INVOKE_PORT.
//! `cargo lambda invoke` by itself goes to [::1] (its default address), where the watch,
//! which listens on 127.0.0.1 only, refuses the connection.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use devkit::{dynamodb_local, paths};

use crate::settings::env_number;
use crate::tools;

/// Where `cargo lambda watch` itself listens under `cargo xtask dev`: the front on
/// `API_PORT` passes the API's requests to it, and the scheduled and event-driven
/// functions are invoked on it.
pub const DEFAULT_INVOKE_PORT: u16 = 9001;

/// Where the dev stack's API listens (the front, as API Gateway is deployed).
pub const DEFAULT_API_PORT: u16 = 9000;

/// The dev stack's invoke port: `INVOKE_PORT`, or [`DEFAULT_INVOKE_PORT`].
pub fn port() -> Result<u16> {
    env_number("INVOKE_PORT", DEFAULT_INVOKE_PORT)
}

/// The dev stack's API port: `API_PORT`, or [`DEFAULT_API_PORT`].
pub fn api_port() -> Result<u16> {
    env_number("API_PORT", DEFAULT_API_PORT)
}

pub const USAGE: &str = "usage: cargo xtask invoke FUNCTION [--data-file FILE]";

/// What the dev banner offers for running the processor now, as typed at the
/// workspace's root against a stack whose watch is on `invoke_port`. The smoke test
/// runs these very words in a shell.
pub fn run_processor_now(invoke_port: u16) -> String {
    let command = "cargo xtask invoke process-pending --data-file events/scheduled.json";
    if invoke_port == DEFAULT_INVOKE_PORT {
        command.to_owned()
    } else {
        format!("INVOKE_PORT={invoke_port} {command}")
    }
}

/// What the dev banner offers for reconciling a day with the gateway, as typed at the
/// workspace's root against a stack whose watch is on `invoke_port` and API on
/// `api_port`. The smoke test runs these very words in a shell.
pub fn reconcile_day(invoke_port: u16, api_port: u16, date: Option<&str>) -> String {
    let mut command = String::new();
    if invoke_port != DEFAULT_INVOKE_PORT {
        command.push_str(&format!("INVOKE_PORT={invoke_port} "));
    }
    if api_port != DEFAULT_API_PORT {
        command.push_str(&format!("API_PORT={api_port} "));
    }
    command.push_str("cargo xtask reconcile");
    if let Some(date) = date {
        command.push_str(&format!(" --date {date}"));
    }
    command
}

/// `cargo lambda invoke` of `function` with the event in `data_file`, at the watch on
/// 127.0.0.1:`port`. Stopped with the rest when a signal drops it mid-call.
pub fn lambda_invoke(
    lambda_bin: &Path,
    port: u16,
    function: &str,
    data_file: &Path,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("cargo");
    command
        .args(["lambda", "invoke", function, "--data-file"])
        .arg(data_file)
        .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
        .arg(port.to_string())
        .env("PATH", tools::path_with(lambda_bin))
        .current_dir(paths::workspace_root())
        .kill_on_drop(true);
    command
}

/// The command: the answer goes to stdout as the function gave it, anything else to
/// stderr, so a script can read the one without the other.
pub async fn run(args: &[String]) -> Result<()> {
    let request = Request::parse(args)?;
    let port = port()?;
    let root = paths::workspace_root();
    if !root.join("functions").join(&request.function).is_dir() {
        bail!(
            "no function `{}` in {}",
            request.function,
            root.join("functions").display()
        );
    }
    let data_file = event_file(&request, &root)?;
    if !dynamodb_local::is_listening(port) {
        bail!(
            "nothing listens on 127.0.0.1:{port}: the dev stack is not running; start it \
             with `cargo xtask dev` (or set INVOKE_PORT to the port its banner names)"
        );
    }
    let lambda_bin = tools::cargo_lambda()?;
    let status = lambda_invoke(&lambda_bin, port, &request.function, &data_file)
        .status()
        .await
        .context("running cargo lambda invoke")?;
    if !status.success() {
        bail!(
            "invoking {} on 127.0.0.1:{port} failed ({status})",
            request.function
        );
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
struct Request {
    function: String,
    data_file: Option<PathBuf>,
}

impl Request {
    fn parse(args: &[String]) -> Result<Self> {
        let mut function = None;
        let mut data_file = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--data-file" => {
                    let file = args.next().context(USAGE)?;
                    data_file = Some(PathBuf::from(file));
                }
                flag if flag.starts_with('-') => bail!("unknown flag `{flag}`\n{USAGE}"),
                name if function.is_none() => function = Some(name.to_owned()),
                extra => bail!("one function at a time, not also `{extra}`\n{USAGE}"),
            }
        }
        Ok(Request {
            function: function.context(USAGE)?,
            data_file,
        })
    }
}

/// The event to send: the file named (from here, or else from the workspace's root,
/// where the banner's paths start), or `events/<FUNCTION>.json`.
fn event_file(request: &Request, root: &Path) -> Result<PathBuf> {
    let Some(named) = &request.data_file else {
        let sample = root
            .join("events")
            .join(format!("{}.json", request.function));
        if sample.is_file() {
            return Ok(sample);
        }
        bail!(
            "no event for {}: events/{}.json does not exist; name one with --data-file FILE",
            request.function,
            request.function
        );
    };
    [named.clone(), root.join(named)]
        .into_iter()
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("no file {}", named.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn the_banner_names_the_default_port_by_omission_and_another_one_outright() {
        assert_eq!(
            run_processor_now(DEFAULT_INVOKE_PORT),
            "cargo xtask invoke process-pending --data-file events/scheduled.json"
        );
        assert_eq!(
            run_processor_now(9301),
            "INVOKE_PORT=9301 cargo xtask invoke process-pending --data-file events/scheduled.json"
        );
    }

    #[test]
    fn the_banners_command_parses_and_names_a_function_and_an_event_that_exist() {
        let command = run_processor_now(DEFAULT_INVOKE_PORT);
        let words: Vec<&str> = command.split_whitespace().collect();
        let ["cargo", "xtask", "invoke", rest @ ..] = words.as_slice() else {
            panic!("{command}")
        };
        let request = Request::parse(&args(rest)).unwrap();
        let root = paths::workspace_root();
        assert!(root.join("functions").join(&request.function).is_dir());
        assert_eq!(
            event_file(&request, &root).unwrap(),
            root.join("events/scheduled.json")
        );
    }

    #[test]
    fn the_event_defaults_to_the_functions_sample() {
        let root = paths::workspace_root();
        let request = Request::parse(&args(&["notify"])).unwrap();
        assert_eq!(
            request,
            Request {
                function: "notify".to_owned(),
                data_file: None
            }
        );
        assert_eq!(
            event_file(&request, &root).unwrap(),
            root.join("events/notify.json")
        );
        let without = Request::parse(&args(&["process-pending"])).unwrap();
        let refused = event_file(&without, &root).unwrap_err().to_string();
        assert!(refused.contains("--data-file"), "{refused}");
    }

    #[test]
    fn anything_but_one_function_and_a_data_file_is_refused() {
        for words in [
            &[][..],
            &["notify", "notify"],
            &["notify", "--data-file"],
            &["notify", "--invoke-port", "9001"],
        ] {
            assert!(Request::parse(&args(words)).is_err(), "{words:?}");
        }
    }
}
