//! `cargo xtask images`: builds the repo's own container images (a Debian base made with
//! debootstrap and `docker import`, then PostgreSQL, Redis, the MongoDB stand-in and nginx on top),
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
  cargo xtask images --apps            # and the project's own: step 7, payments, simulator
  STEPWISE_IMAGES=local STEPWISE_SERVICES=container cargo xtask step 0")]
pub struct Images {
    /// Rebuild even the images that are up to date.
    #[arg(long)]
    pub force: bool,
    /// Only this image (and the base it is built on).
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// Also the images of the binaries the project ships (step07-devops, step02-payments,
    /// payment-sim), from binaries cargo builds on this machine (debug unless --release),
    /// tagged stepwise/BINARY:local: what step 7's compose stage runs here.
    #[arg(long)]
    pub apps: bool,
    /// With --apps: release binaries (smaller images, a longer build).
    #[arg(long, requires = "apps")]
    pub release: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Only {
    Base,
    Postgres,
    Redis,
    Mongo,
    Nginx,
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
                    Only::Nginx => LocalImage::Nginx,
                },
                &options,
            ),
        };
        let reports = reports?;
        let apps = if self.apps {
            let options = images::app::AppImageOptions {
                force: self.force,
                base: options.clone(),
                ..images::app::AppImageOptions::default()
            };
            images::app::ensure_app_images(self.release, &options)?
        } else {
            Vec::new()
        };
        let took = activity.elapsed();
        activity.clear();
        for report in &reports {
            println!("  {report}");
        }
        for report in &apps {
            println!("  {report}");
        }
        println!(
            "\n{} images ready in {}. Every command uses them where the official images cannot \
             be pulled\n(STEPWISE_IMAGES=local: always; add STEPWISE_SERVICES=container to fail \
             instead of falling back to local servers)",
            reports.len() + apps.len(),
            human_duration(took)
        );
        Ok(ExitCode::SUCCESS)
    }
}
