//! # Step 8: cloud
//!
//! ## What this step adds
//! Step 7's service, ready for a cloud provider's managed services:
//! - **Configuration a deploy can trust** ([`config`]): layered defaults, a file per
//!   environment, a cloud profile (`local`, `aws`, `gcp`, `azure`), the environment and
//!   mounted secret files, in that order; unknown keys and missing required keys refused at
//!   start, with the key and where it came from.
//! - **Managed databases over TLS** ([`managed`]): PostgreSQL, Redis and MongoDB connections
//!   verified against a provider's CA bundle, and MongoDB's features that DocumentDB and
//!   Cosmos DB lack switched off by flavour.
//! - **Product images in object storage** ([`storage`]): an admin uploads a product's image
//!   (its type sniffed from the bytes, its size bounded), anyone downloads it through a signed
//!   URL; a local directory, S3, GCS or Azure Blob behind one API.
//! - **Infrastructure as code** (`deploy/terraform/aws`): Terraform for the AWS the shop runs
//!   on, checked offline by `tests/it/terraform.rs` (HCL, checkov, the project's rules).
//!
//! ## Why
//! A cloud deploy is configured by several hands (the image, the platform's environment, a
//! secret store): without a fixed order and a check of every key, a misspelt variable is a
//! silent default in production. Managed databases are reached over networks the team does
//! not own, so every connection verifies whom it talks to, against the provider's CA. And an
//! instance that may be replaced at any moment keeps no file of its own: images go to the
//! cloud's object store, which serves them itself through URLs that expire.
//! Rejected: one configuration file per cloud in the image (a secret would be baked in, and
//! the environment could not override it); an SDK per cloud (`object_store` speaks all four
//! stores through one API); the whole AWS SDK for one secret (SigV4 over reqwest builds in a
//! fraction of the time).
//!
//! ## How it plugs into step 7
//! [`AppState`] extends step 7's ([`common::step::Extends`]). Its configuration adds its own
//! layers and refuses unknown keys through two seams of common's `ExtendsConfig`
//! (`own_layers`, `STRICT_KEYS`); the `managed` settings land where steps 3 to 6 already read
//! their connections (the URLs, step 3's one Redis constructor, common's `tune_own_mongo`);
//! the state adds the product images and wraps the product store so a deleted product takes
//! its image along; the routes add the image routes.
//!
//! ## Try it
//! ```text
//! cargo xtask step 8          # this crate's tests, the contract suites 0, 1, 2, 3, 5, 6, 7, 8 and the hostile suites 0, 1, 2, 5, 6, 7, 8
//! cargo xtask run 8           # as step 7, plus the image routes
//! cargo xtask config 8 --profile aws   # every key, its value and where it came from
//! ```
//!
//! ## Map of the crate
//! - [`config`]: step 7's config plus the `cloud`, `secrets`, `managed` and `storage`
//!   sections; [`layers`]: where it is read from, in which order.
//! - [`managed`]: the `managed` section: TLS and flavours of the managed databases.
//! - [`storage`]: product images: the `storage` section, the backends, the routes;
//!   [`secrets_manager`]: a reader of one AWS Secrets Manager secret (SigV4 over reqwest).
//! - [`startup`]: step 8's [`common::Step`]; [`cli`]: its binary; [`testing`]: its test
//!   configuration.
//!
//! ## Next
//! Step 9 (`step09-monitoring`) measures the service: Prometheus metrics, structured logs,
//! dashboards and alert rules.

pub mod cli;
pub mod config;
pub mod layers;
pub mod managed;
pub mod secrets_manager;
pub mod startup;
pub mod storage;
pub mod testing;

pub use config::Config;
pub use startup::AppState;
