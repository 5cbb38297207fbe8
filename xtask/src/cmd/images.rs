//! `cargo xtask images`: builds the repo's own container images (a Debian base made with
//! debootstrap and `docker import`, then PostgreSQL, Redis and the MongoDB stand-in on top),
//! for machines where Docker runs but no registry can be reached. Builds are cached: an image
//! whose inputs did not change is not rebuilt. The tests and xtask use them wherever the
//! official images cannot be pulled (`STEPWISE_IMAGES=local`: always). The work itself is provision's ([`provision::images`]).

use std::process::ExitCode;

use provision::images::{self, ImageOptions, LocalImage};

use crate::ui::{Ui, human_duration};

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask images
  cargo xtask images --only postgres
  STEPWISE_IMAGES=local STEPWISE_SERVICES=container cargo xtask step 0")]
pub struct Images {
    /// Rebuild even the images that are up to date.
    #[arg(long)]
    pub force: bool,
    /// Only this image (and the base it is built on).
    #[arg(long, value_enum)]
    pub only: Option<Only>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Only {
    Base,
    Postgres,
    Redis,
    Mongo,
}

impl Images {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let options = ImageOptions {
            force: self.force,
            ..ImageOptions::default()
        };
        // provision reports each build on stderr itself: a plain line, no spinner.
        let activity = Ui::new().quiet_activity("building the local images (cached once built)");
        let reports = match self.only {
            None => images::ensure_local_images(&options),
            Some(only) => images::ensure_local_image(
                match only {
                    Only::Base => LocalImage::Base,
                    Only::Postgres => LocalImage::Postgres,
                    Only::Redis => LocalImage::Redis,
                    Only::Mongo => LocalImage::MongoStandin,
                },
                &options,
            ),
        };
        let took = activity.elapsed();
        activity.clear();
        let reports = reports?;
        for report in &reports {
            println!("  {report}");
        }
        println!(
            "\n{} images ready in {}. Every command uses them where the official images cannot \
             be pulled\n(STEPWISE_IMAGES=local: always; add STEPWISE_SERVICES=container to fail \
             instead of falling back to local servers)",
            reports.len(),
            human_duration(took)
        );
        Ok(ExitCode::SUCCESS)
    }
}
