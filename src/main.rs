fn main() -> std::process::ExitCode {
    cashews_add::run(std::env::args_os())
}
