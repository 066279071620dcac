pub async fn run(_args: &crate::cli::PinArgs) -> Result<crate::exit::ExitStatus, miette::Report> {
    todo!()
}
