//! Test support shared by the topics of the integration binary.

pub mod argv;
pub mod emulator;
pub mod github_api;
pub mod registry;
pub mod run;
pub mod snapshot;

/// The deploy tag modalplan gives `deployment` of `processor`: its fingerprint with the code the
/// manifest's `[modal].workdir` holds now, as `plan` computes it.
pub fn tag_of(
    manifest: &modalplan::manifest::ValidManifest,
    processor: &modalplan::manifest::valid::Processor,
    deployment: &modalplan::manifest::valid::Deployment,
) -> String {
    let code = manifest.modal.code_snapshot().unwrap();
    modalplan::fingerprint::Fingerprint::of(modalplan::fingerprint::FingerprintInputs {
        reference: &processor.reference,
        deployment,
        modal: &manifest.modal,
        code: &code,
    })
    .to_string()
}
