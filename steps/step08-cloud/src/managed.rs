//! Managed databases over TLS (the `managed` section): how the connections that steps 3 to 6
//! make to PostgreSQL, Redis and MongoDB verify a cloud provider's servers, and which MongoDB
//! features a MongoDB-compatible service (Amazon DocumentDB, Azure Cosmos DB for MongoDB)
//! lacks and must not be asked for.
//!
//! Nothing of the earlier steps' connection code is repeated here: each setting lands where
//! those steps already read it. PostgreSQL's is written into `postgres.url` and
//! `replica.url` as libpq's parameters (`sslmode`, `sslrootcert`), which sqlx reads; Redis's
//! into `redis.url` (`rediss://`, and the `ca_bundle` parameter step 3's one client
//! constructor, [`step03_caching::redis_handle::client`], reads); MongoDB's onto the driver's
//! options through common's `tune_own_mongo` seam ([`tune_mongo`]), after step 6's replica-set
//! settings. The URLs are rewritten by the last configuration layer ([`layer`]: after the
//! secrets, which may hold the URLs) or, on a configuration made in code, by [`apply`]; both
//! check everything first: a CA bundle that does not exist or holds no certificate, or a
//! setting that contradicts the URL it is for, is an error when the service starts, naming
//! the key, never a handshake failing on every request later.
//!
//! The CA keys are `ca_bundle`, not `ca_file`: a key ending in `_file` would read as a
//! secret file's variable ([`crate::layers`]).
//!
//! The defaults change nothing: every connection is made as in steps 0 to 7 (no TLS unless
//! the URL asks for it).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use common::store::mongo::MongoOptions;
use mongodb::options::{Tls, TlsOptions};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use step03_caching::redis_handle::CA_BUNDLE_PARAM;

/// The `managed` section: one sub-section per kind of managed service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ManagedConfig {
    pub postgres: ManagedPostgres,
    pub redis: ManagedRedis,
    pub mongodb: ManagedMongo,
}

/// TLS to PostgreSQL (RDS, Cloud SQL, Azure Database for PostgreSQL), for the primary
/// (`postgres.url`) and the read replica (`replica.url`) alike.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ManagedPostgres {
    /// libpq's `sslmode`, for both URLs. Unset: what each URL says (sqlx's default,
    /// `prefer`: TLS when the server offers it, unverified, else in the clear).
    pub tls: Option<PostgresTls>,
    /// The CA bundle the server's certificate must chain to (`sslrootcert`), in place of the
    /// roots built into the binary (Mozilla's, through webpki-roots). Needs `verify-ca` or
    /// `verify-full`: the other modes verify nothing.
    pub ca_bundle: Option<PathBuf>,
}

/// How much of the server's certificate PostgreSQL's client checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PostgresTls {
    /// In the clear.
    Disable,
    /// Encrypted, the certificate not checked: safe against listeners, not against someone
    /// who answers in the server's place.
    Require,
    /// Encrypted, the certificate chained to a trusted CA, for any host name.
    VerifyCa,
    /// Encrypted, the certificate chained to a trusted CA and naming the host connected to:
    /// what a managed database should be reached with.
    VerifyFull,
}

impl PostgresTls {
    /// The `sslmode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PostgresTls::Disable => "disable",
            PostgresTls::Require => "require",
            PostgresTls::VerifyCa => "verify-ca",
            PostgresTls::VerifyFull => "verify-full",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, PostgresTls::VerifyCa | PostgresTls::VerifyFull)
    }
}

/// TLS to Redis (ElastiCache, Memorystore, Azure Cache for Redis): step 3's handle, the near
/// cache's tracking connection and step 6's streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ManagedRedis {
    /// `true`: TLS, the URL made `rediss://`, the certificate verified (host name included).
    /// `false`: in the clear, and a `rediss://` URL is an error rather than silently kept.
    /// Unset: what `redis.url` says.
    pub tls: Option<bool>,
    /// The CA bundle the server's certificate must chain to, in place of the system's roots.
    /// Needs TLS.
    pub ca_bundle: Option<PathBuf>,
}

/// MongoDB, or a service that speaks its protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ManagedMongo {
    /// What answers at `mongodb.uri`; each flavour switches off what it lacks ([`tune_mongo`]).
    pub flavour: Flavour,
    /// The CA bundle the server's certificate must chain to (DocumentDB's is Amazon's RDS
    /// bundle): turns TLS on, whatever the URI says short of `tls=false`, which is an error.
    pub ca_bundle: Option<PathBuf>,
}

/// What answers at `mongodb.uri`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// MongoDB itself (Atlas, a replica set of one's own, the local stand-in): every feature
    /// steps 0 to 7 use.
    #[default]
    Mongodb,
    /// Amazon DocumentDB.
    Documentdb,
    /// Azure Cosmos DB for MongoDB (request-unit accounts).
    Cosmosdb,
}

impl ManagedConfig {
    /// Refuses settings that contradict each other or a CA file that would not work, naming
    /// the key. Reads each CA file.
    pub fn check(&self) -> anyhow::Result<()> {
        let pg = &self.postgres;
        if let Some(ca_bundle) = &pg.ca_bundle {
            match pg.tls {
                Some(mode) if mode.verifies() => {}
                other => bail!(
                    "managed.postgres.ca_bundle is set but managed.postgres.tls is {}: only \
                     verify-ca and verify-full check the server's certificate against a CA \
                     (verify-full also checks its host name; use it)",
                    other.map_or("unset", PostgresTls::as_str)
                ),
            }
            read_ca_bundle("managed.postgres.ca_bundle", ca_bundle)?;
        }
        let redis = &self.redis;
        if let Some(ca_bundle) = &redis.ca_bundle {
            if redis.tls != Some(true) {
                bail!(
                    "managed.redis.ca_bundle is set but managed.redis.tls is not true: the CA \
                     verifies a TLS connection"
                );
            }
            read_ca_bundle("managed.redis.ca_bundle", ca_bundle)?;
        }
        if let Some(ca_bundle) = &self.mongodb.ca_bundle {
            read_ca_bundle("managed.mongodb.ca_bundle", ca_bundle)?;
        }
        Ok(())
    }
}

/// The URLs the `managed` section rewrites, as strings (secrets: never shown).
struct Urls {
    postgres: SecretString,
    replica: Option<SecretString>,
    redis: SecretString,
    mongodb: SecretString,
}

impl Urls {
    /// Checks `managed`, then rewrites the PostgreSQL and Redis URLs with its settings.
    fn resolve(self, managed: &ManagedConfig) -> anyhow::Result<Urls> {
        managed.check()?;
        mongo_uri_allows_tls(&managed.mongodb, self.mongodb.expose_secret())?;
        let pg = &managed.postgres;
        Ok(Urls {
            postgres: postgres_url("postgres.url", &self.postgres, pg)?,
            replica: self
                .replica
                .map(|url| postgres_url("replica.url", &url, pg))
                .transpose()?,
            redis: redis_url(&self.redis, &managed.redis)?,
            mongodb: self.mongodb,
        })
    }
}

/// Checks `config.managed`, then writes its PostgreSQL and Redis settings into the URLs steps
/// 3 to 6 connect with (`postgres.url`, `replica.url`, `redis.url`): for a configuration made
/// in code (tests). Idempotent: applied twice, the URLs are those of once. MongoDB's settings
/// need no rewriting: [`tune_mongo`] applies them when the client is made.
pub fn apply(config: &mut crate::Config) -> anyhow::Result<()> {
    let urls = Urls {
        postgres: config.postgres.url.clone(),
        replica: config.replica.url.clone(),
        redis: config.redis.url.clone(),
        mongodb: common::StepConfig::common(config).mongodb.uri.clone(),
    }
    .resolve(&config.managed)?;
    config.postgres.url = urls.postgres;
    config.replica.url = urls.replica;
    config.redis.url = urls.redis;
    Ok(())
}

/// `figment` with the `managed` section applied on top, as one more layer: the URLs it
/// rewrites, read from every layer below (a URL from a secret file included), checked and
/// rewritten as [`apply`] does. The last layer, so nothing below overrides its rewriting;
/// with the section at its defaults, `figment` unchanged.
pub fn layer(figment: figment::Figment) -> anyhow::Result<figment::Figment> {
    let managed: ManagedConfig = match figment.find_value("managed") {
        Ok(_) => figment
            .extract_inner("managed")
            .map_err(|error| anyhow::anyhow!("managed: {error}"))?,
        Err(_) => ManagedConfig::default(),
    };
    if managed == ManagedConfig::default() {
        return Ok(figment);
    }
    let string = |key: &str| {
        figment
            .find_value(key)
            .ok()
            .and_then(|value| value.into_string())
            .map(SecretString::from)
    };
    let urls = Urls {
        postgres: string("postgres.url")
            .unwrap_or_else(|| step05_hybrid_dbs::config::PostgresConfig::default().url),
        replica: string("replica.url"),
        redis: string("redis.url")
            .unwrap_or_else(|| step03_caching::config::RedisConfig::default().url),
        mongodb: string("mongodb.uri")
            .unwrap_or_else(|| common::config::MongoConfig::default().uri),
    }
    .resolve(&managed)?;
    let mut rewritten = vec![
        ("postgres.url", urls.postgres.expose_secret().to_owned()),
        ("redis.url", urls.redis.expose_secret().to_owned()),
    ];
    if let Some(replica) = &urls.replica {
        rewritten.push(("replica.url", replica.expose_secret().to_owned()));
    }
    Ok(figment.merge(Rewritten(rewritten)))
}

/// The URLs the `managed` section rewrote, as a layer that says where they came from
/// (`cargo xtask config 8` shows it beside each key).
struct Rewritten(Vec<(&'static str, String)>);

impl figment::Provider for Rewritten {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("the managed section (URLs with its TLS settings)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let values = self
            .0
            .iter()
            .fold(figment::Figment::new(), |values, (key, value)| {
                values.merge(figment::providers::Serialized::default(key, value))
            });
        figment::Provider::data(&values)
    }
}

/// Reads the CA bundle at `path` (the value of `key`): it must exist and hold at least one
/// PEM certificate.
pub fn read_ca_bundle(key: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path)
        .with_context(|| format!("{key}: cannot read the CA bundle {}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{key}: {} is not a PEM CA bundle", path.display()))?;
    if certificates.is_empty() {
        bail!(
            "{key}: the CA bundle {} holds no certificate (PEM, -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(pem)
}

/// `url` (the value of `key`) with `sslmode` and `sslrootcert` from `settings`. A URL that
/// already says otherwise is an error: the setting must be made in one place.
fn postgres_url(
    key: &str,
    url: &SecretString,
    settings: &ManagedPostgres,
) -> anyhow::Result<SecretString> {
    let Some(mode) = settings.tls else {
        return Ok(url.clone());
    };
    // Never echo the URL: it may hold a password.
    let mut parsed = url::Url::parse(url.expose_secret())
        .map_err(|_| anyhow::anyhow!("{key} is not a valid postgres:// URL"))?;
    let mut wanted = vec![("sslmode", mode.as_str().to_owned())];
    if let Some(ca_bundle) = &settings.ca_bundle {
        wanted.push(("sslrootcert", ca_bundle.display().to_string()));
    }
    set_params(&mut parsed, key, "managed.postgres", &wanted)?;
    Ok(SecretString::from(parsed.to_string()))
}

/// `url` made `rediss://` with the `ca_bundle` parameter, or checked to be in the clear, as
/// `settings` say.
fn redis_url(url: &SecretString, settings: &ManagedRedis) -> anyhow::Result<SecretString> {
    let Some(tls) = settings.tls else {
        return Ok(url.clone());
    };
    let mut parsed = url::Url::parse(url.expose_secret())
        .map_err(|_| anyhow::anyhow!("redis.url is not a valid redis:// or rediss:// URL"))?;
    match (tls, parsed.scheme()) {
        (true, "rediss") | (false, "redis") => {}
        (true, "redis") => {
            parsed
                .set_scheme("rediss")
                .map_err(|()| anyhow::anyhow!("redis.url: cannot make it rediss://"))?;
        }
        (false, "rediss") => bail!(
            "managed.redis.tls is false but redis.url is rediss://: say true, or give a \
             redis:// URL (a connection is not silently downgraded to the clear)"
        ),
        (_, other) => bail!("redis.url must be redis:// or rediss://, not {other}://"),
    }
    if let Some(ca_bundle) = &settings.ca_bundle {
        set_params(
            &mut parsed,
            "redis.url",
            "managed.redis",
            &[(CA_BUNDLE_PARAM, ca_bundle.display().to_string())],
        )?;
    }
    Ok(SecretString::from(parsed.to_string()))
}

/// Sets each `(name, value)` query parameter of `url`; one already there with another value
/// is an error naming both places.
fn set_params(
    url: &mut url::Url,
    key: &str,
    section: &str,
    wanted: &[(&str, String)],
) -> anyhow::Result<()> {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    for (name, value) in wanted {
        match pairs.iter().find(|(existing, _)| existing == name) {
            Some((_, existing)) if existing != value => bail!(
                "{key} has {name}={existing}, and {section} asks {name}={value}: set it in \
                 one place (the {section} section, for every URL it applies to)"
            ),
            Some(_) => {}
            None => pairs.push(((*name).to_owned(), value.clone())),
        }
    }
    url.query_pairs_mut().clear().extend_pairs(pairs);
    Ok(())
}

/// A `ca_bundle` with a URI that turns TLS off is a contradiction: refused.
fn mongo_uri_allows_tls(settings: &ManagedMongo, uri: &str) -> anyhow::Result<()> {
    let Some(ca_bundle) = &settings.ca_bundle else {
        return Ok(());
    };
    let query = uri.split_once('?').map_or("", |(_, query)| query);
    let off = url::form_urlencoded::parse(query.as_bytes()).any(|(name, value)| {
        matches!(name.to_ascii_lowercase().as_str(), "tls" | "ssl") && value == "false"
    });
    if off {
        bail!(
            "managed.mongodb.ca_bundle is {} but mongodb.uri turns TLS off (tls=false): the CA \
             verifies a TLS connection",
            ca_bundle.display()
        );
    }
    Ok(())
}

/// The `managed.mongodb` settings on the driver's options, after step 6's: the CA file
/// (TLS on), and for DocumentDB and Cosmos DB, off what they lack.
///
/// - **Retryable writes** off (`retryWrites=false`): neither accepts them (DocumentDB before
///   engine 8.0.2, Cosmos DB's request-unit accounts), and the driver's default is on. A write
///   cut off by a failover is then an error the request sees (503), not a silent retry.
/// - **Causally consistent sessions** off: step 6 ties the catalog's reads to its last write
///   with them (`afterClusterTime`); neither service honours it as MongoDB does.
///   A read from a replica may then miss this instance's own last write, for the replica lag.
/// - **Read and write concerns** left to the service: step 6's `majority` concerns (and the
///   journal flag) are MongoDB replica-set semantics; DocumentDB acknowledges a write once a
///   quorum of its storage has it, whatever the concern, and Cosmos DB maps concerns onto the
///   account's consistency level. The durability is the service's, not the configuration's.
///
/// The catalog's read preference stays step 6's: both route `secondaryPreferred` to a
/// replica (DocumentDB's replica instances, Cosmos DB's read regions).
pub fn tune_mongo(config: &ManagedMongo, options: &mut MongoOptions) {
    if let Some(ca_bundle) = &config.ca_bundle {
        let mut tls = match options.client.tls.take() {
            Some(Tls::Enabled(tls)) => tls,
            _ => TlsOptions::default(),
        };
        tls.ca_file_path = Some(ca_bundle.clone());
        options.client.tls = Some(Tls::Enabled(tls));
    }
    match config.flavour {
        Flavour::Mongodb => {}
        Flavour::Documentdb | Flavour::Cosmosdb => {
            options.client.retry_writes = Some(false);
            options.causal_consistency = false;
            options.client.read_concern = None;
            options.client.write_concern = None;
        }
    }
}
