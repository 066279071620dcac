//! `modalplan history`: one app's releases, newest first, from Modal's deployment history joined with the
//! release records modalplan keeps on Modal.

use crate::error::Error;

use super::target;
use crate::backend::AppState;
use crate::cli::{HistoryArgs, HistoryFormat};
use crate::exit::ExitStatus;
use crate::history::{History, join};
use crate::printer;

pub async fn run(args: &HistoryArgs) -> Result<ExitStatus, Error> {
    let (context, _, app_name) = target::release_target(&args.target).await?;
    let environment = &args.target.environment;
    let backend = context.backend();
    let (versions, (records, app)) = tokio::try_join!(
        crate::backend::ModalBackend::history(backend.as_ref(), environment, app_name.as_str()),
        target::releases_of(backend.as_ref(), environment, app_name.as_str()),
    )
    .map_err(Error::backend)?;
    let deployed = app.is_some_and(|app| app.state == AppState::Deployed);
    let history = History {
        environment: environment.clone(),
        app: app_name.to_string(),
        releases: join(&versions, &records, deployed),
    };
    printer::stdout(&match args.format {
        HistoryFormat::Json => {
            let mut text = serde_json::to_string_pretty(&history).unwrap_or_default();
            text.push('\n');
            text
        }
        HistoryFormat::Text => crate::render::history::text(&history),
    });
    Ok(ExitStatus::Success)
}
